// The diagnostic HTTP service's request parser (RFC 9112 §2-3, 9.3): splits the byte
// stream into requests ending in CRLFCRLF (pipelining-safe: a request is answered only
// when complete, in order) and decides keep-alive. Request bodies are not supported:
// a request announcing one is answered 400 and the connection closed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace utcp::daemon {

inline constexpr std::string_view kHttpBody = "utcp\n";
inline constexpr std::size_t kMaxHttpHeader = 8192;  // larger heads: 431, then close

struct HttpRequest {
  int status = 200;          // 200, 400, 405, 431, 505
  bool keep_alive = true;    // HTTP/1.1 unless "Connection: close"; 1.0 only if asked
  bool head = false;         // HEAD: headers without the body
  bool http10 = false;
};

class HttpParser {
 public:
  // Appends bytes to the pending head.
  void feed(std::string_view data) { buf_.append(data); }
  // The next complete request, or nullopt when more bytes are needed. After a request
  // whose status is not 200 the caller closes the connection.
  std::optional<HttpRequest> next();
  std::size_t pending() const { return buf_.size(); }

 private:
  std::string buf_;
};

// The full response (status line, headers, body) for one request.
std::string http_response(const HttpRequest& req);

}  // namespace utcp::daemon

// The diagnostic HTTP parser (read http.h first). RFC 9112 §2.2: empty lines before a
// request line are ignored; §9.3: HTTP/1.1 persists unless "close", HTTP/1.0 only
// with "keep-alive". Header names compare case-insensitively (RFC 9110 §5.1).
#include "daemon/core/http.h"

#include <algorithm>
#include <cctype>

namespace utcp::daemon {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpRequest parse_head(std::string_view head) {
  HttpRequest req;
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  std::string_view headers = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);

  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return {400, false, false, false};
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.0") {
    req.http10 = true;
    req.keep_alive = false;
  } else if (version != "HTTP/1.1") {
    return {version.starts_with("HTTP/") ? 505 : 400, false, false, false};
  }

  while (!headers.empty()) {
    const std::size_t end = headers.find("\r\n");
    const std::string_view h = headers.substr(0, end);
    headers = end == std::string_view::npos ? std::string_view{} : headers.substr(end + 2);
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos) return {400, false, false, req.http10};
    const std::string name = lower(trim(h.substr(0, colon)));
    const std::string value = lower(trim(h.substr(colon + 1)));
    if (name == "connection") {
      if (value.find("close") != std::string::npos) req.keep_alive = false;
      if (value.find("keep-alive") != std::string::npos) req.keep_alive = true;
    } else if ((name == "content-length" && value != "0") || name == "transfer-encoding") {
      return {400, false, false, req.http10};  // bodies are not supported (http.h)
    }
  }
  if (method == "HEAD") {
    req.head = true;
  } else if (method != "GET") {
    req.status = 405;
    req.keep_alive = false;
  }
  return req;
}

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "HTTP Version Not Supported";
  }
}

}  // namespace

std::optional<HttpRequest> HttpParser::next() {
  std::size_t start = 0;
  while (buf_.compare(start, 2, "\r\n") == 0) start += 2;
  buf_.erase(0, start);
  const std::size_t end = buf_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf_.size() > kMaxHttpHeader) return HttpRequest{431, false, false, false};
    return std::nullopt;
  }
  const HttpRequest req = parse_head(std::string_view(buf_).substr(0, end));
  buf_.erase(0, end + 4);
  return req;
}

std::string http_response(const HttpRequest& req) {
  const std::string_view body = req.status == 200 ? kHttpBody : reason(req.status);
  std::string out = req.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(req.status);
  out += ' ';
  out += reason(req.status);
  out += "\r\nServer: utcpd\r\nContent-Type: text/plain\r\nContent-Length: ";
  out += std::to_string(body.size() + (req.status == 200 ? 0 : 1));
  out += req.keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (!req.head) {
    out += body;
    if (req.status != 200) out += '\n';
  }
  return out;
}

}  // namespace utcp::daemon

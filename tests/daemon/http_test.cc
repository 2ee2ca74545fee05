// The diagnostic HTTP parser (daemon/core/http.h): pipelining, keep-alive by version,
// bad and oversized requests.
#include <catch2/catch.hpp>

#include "daemon/core/http.h"

using namespace utcp::daemon;

TEST_CASE("a request is answered only once complete, and pipelined ones in order") {
  HttpParser p;
  p.feed("GET / HTTP/1.1\r\nHost: x\r\n");
  CHECK_FALSE(p.next());
  p.feed("\r\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET");
  auto r1 = p.next();
  REQUIRE(r1);
  CHECK(r1->status == 200);
  CHECK(r1->keep_alive);
  auto r2 = p.next();
  REQUIRE(r2);
  CHECK(r2->keep_alive);
  auto r3 = p.next();
  REQUIRE(r3);
  CHECK_FALSE(r3->keep_alive);
  CHECK_FALSE(p.next());
  CHECK(p.pending() == 3);
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive") {
  HttpParser p;
  p.feed("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  auto r1 = p.next();
  REQUIRE(r1);
  CHECK(r1->http10);
  CHECK_FALSE(r1->keep_alive);
  auto r2 = p.next();
  REQUIRE(r2);
  CHECK(r2->keep_alive);
  CHECK(http_response(*r1).starts_with("HTTP/1.0 200 OK\r\n"));
}

TEST_CASE("the response carries the body with its length") {
  const std::string resp = http_response({});
  CHECK(resp.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(resp.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(resp.ends_with("\r\n\r\nutcp\n"));
  HttpRequest head;
  head.head = true;
  CHECK(http_response(head).ends_with("\r\n\r\n"));
}

TEST_CASE("bad requests get an error and no keep-alive") {
  auto first = [](std::string text) {
    HttpParser p;
    p.feed(text);
    return p.next();
  };
  CHECK(first("POST / HTTP/1.1\r\n\r\n")->status == 405);
  CHECK(first("GET / HTTP/2.0\r\n\r\n")->status == 505);
  CHECK(first("GET /\r\n\r\n")->status == 400);
  CHECK(first("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n")->status == 400);
  CHECK(first("GET / HTTP/1.1\r\nbroken header\r\n\r\n")->status == 400);
  CHECK_FALSE(first("GET / HTTP/1.1\r\nbroken header\r\n\r\n")->keep_alive);
  CHECK(first("\r\n\r\nGET / HTTP/1.1\r\n\r\n")->status == 200);  // RFC 9112 §2.2
  HttpParser big;
  big.feed("GET / HTTP/1.1\r\nX: " + std::string(kMaxHttpHeader, 'a'));
  auto r = big.next();
  REQUIRE(r);
  CHECK(r->status == 431);
}

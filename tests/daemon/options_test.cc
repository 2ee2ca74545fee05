// utcpd's command line (daemon/core/options.h): every flag's good values, and one
// clear error naming the flag for each bad one.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/core/options.h"

using namespace utcp::daemon;

namespace {

ParseOutcome parse(std::vector<std::string_view> args) { return parse_options(args); }

ParseOutcome parse_with_base(std::vector<std::string_view> extra) {
  std::vector<std::string_view> args = {"--dev", "net_tap0,iface=utcp0", "--ip", "198.18.0.2/24"};
  args.insert(args.end(), extra.begin(), extra.end());
  return parse_options(args);
}

}  // namespace

TEST_CASE("minimal command line gets the defaults") {
  const ParseOutcome p = parse_with_base({});
  REQUIRE(p.kind == ParseOutcome::Kind::kRun);
  const Options& o = p.options;
  CHECK(o.devargs == "net_tap0,iface=utcp0");
  CHECK(o.ip.to_string() == "198.18.0.2");
  CHECK(o.prefix_len == 24);
  CHECK_FALSE(o.gateway);
  CHECK(o.cores.empty());
  CHECK(o.control_path == "/run/utcp/utcpd.sock");
  CHECK(o.control_group == "utcp");
  CHECK_FALSE(o.control_group_given);
  CHECK(o.control_mode == 0660);
  CHECK(o.file_prefix.empty());
  CHECK(o.hugepages == Hugepages::kAuto);
  CHECK(o.poll == PollMode::kSleep);
  CHECK(o.echo_port == 0);
  CHECK(o.discard_port == 0);
  CHECK(o.http_port == 0);
  CHECK_FALSE(o.ping);
  CHECK_FALSE(o.fault);
  CHECK(o.mtu == 1500);
}

TEST_CASE("every flag is stored, in both --flag value and --flag=value form") {
  const ParseOutcome p = parse_with_base(
      {"--gateway", "198.18.0.254", "--cores=0-1", "--control", "/tmp/u.sock", "--file-prefix",
       "utcp-x", "--hugepages", "off", "--poll=busy", "--echo", "7", "--discard", "9",
       "--http=80", "--ping", "198.18.0.3", "--fault", "loss=1%,seed=7", "--mtu", "9000", "--log-level", "pmd.net.tap:debug",
       "--group", "users", "--mode=0600"});
  REQUIRE(p.kind == ParseOutcome::Kind::kRun);
  const Options& o = p.options;
  REQUIRE(o.gateway);
  CHECK(o.gateway->to_string() == "198.18.0.254");
  CHECK(o.cores == std::vector<unsigned>{0, 1});
  CHECK(o.control_path == "/tmp/u.sock");
  CHECK(o.control_group == "users");
  CHECK(o.control_group_given);
  CHECK(o.control_mode == 0600);
  CHECK(o.file_prefix == "utcp-x");
  CHECK(o.hugepages == Hugepages::kOff);
  CHECK(o.poll == PollMode::kBusy);
  CHECK(o.echo_port == 7);
  CHECK(o.discard_port == 9);
  CHECK(o.http_port == 80);
  REQUIRE(o.ping);
  CHECK(o.ping->to_string() == "198.18.0.3");
  REQUIRE(o.fault);
  CHECK(o.fault->seed == 7);
  CHECK(o.fault->rx.loss == Approx(0.01));
  CHECK(o.mtu == 9000);
  CHECK(o.dpdk_log_levels == std::vector<std::string>{"pmd.net.tap:debug"});
  CHECK(o.log_level == LogLevel::kNotice);
}

TEST_CASE("options: --log-level sets utcpd's level by name, DPDK's by TYPE:LEVEL, repeatable") {
  const ParseOutcome p = parse_with_base(
      {"--log-level", "info", "--log-level", "pmd.net.tap:debug", "--log-level=eal:notice"});
  REQUIRE(p.kind == ParseOutcome::Kind::kRun);
  CHECK(p.options.log_level == LogLevel::kInfo);
  CHECK(p.options.dpdk_log_levels == std::vector<std::string>{"pmd.net.tap:debug", "eal:notice"});
  for (const char* name : {"error", "warning", "notice", "info", "debug"}) {
    const ParseOutcome q = parse_with_base({"--log-level", name});
    REQUIRE(q.kind == ParseOutcome::Kind::kRun);
    CHECK(log_level_name(q.options.log_level) == name);
  }
}

TEST_CASE("options: --help wins over everything else") {
  CHECK(parse({"--help"}).kind == ParseOutcome::Kind::kHelp);
  CHECK(parse({"--bogus", "--help"}).kind == ParseOutcome::Kind::kError);  // first error stops
  CHECK(parse({"--dev", "x", "--help"}).kind == ParseOutcome::Kind::kHelp);
  CHECK(usage().find("--echo PORT") != std::string::npos);
}

TEST_CASE("each bad value is one line naming its flag") {
  struct Case {
    std::vector<std::string_view> args;
    std::string_view names;
  };
  const std::vector<Case> cases = {
      {{"--ip", "198.18.0.3"}, "--ip"},
      {{"--ip", "198.18.0.3/0"}, "--ip"},
      {{"--ip", "198.18.0.3/33"}, "--ip"},
      {{"--ip", "300.1.1.1/24"}, "--ip"},
      {{"--gateway", "nope"}, "--gateway"},
      {{"--ping", "198.18.0"}, "--ping"},
      {{"--ping", "0.0.0.0"}, "--ping"},
      {{"--cores", "1-0"}, "--cores"},
      {{"--cores", "0,0"}, "--cores"},
      {{"--cores", "a"}, "--cores"},
      {{"--cores", "0,"}, "--cores"},
      {{"--cores", "2000"}, "--cores"},
      {{"--hugepages", "yes"}, "--hugepages"},
      {{"--poll", "spin"}, "--poll"},
      {{"--echo", "0"}, "--echo"},
      {{"--discard", "65536"}, "--discard"},
      {{"--http", "8o"}, "--http"},
      {{"--fault", "loss=200%"}, "--fault"},
      {{"--mtu", "100"}, "--mtu"},
      {{"--mtu", "1500x"}, "--mtu"},
      {{"--log-level", "a b"}, "--log-level"},
      {{"--log-level", "verbose"}, "--log-level"},
      {{"--log-level", "pmd net:debug"}, "--log-level"},
      {{"--file-prefix", "a/b"}, "--file-prefix"},
      {{"--group="}, "--group"},
      {{"--group", "a b"}, "--group"},
      {{"--group", "a:b"}, "--group"},
      {{"--mode", "0888"}, "--mode"},
      {{"--mode", "1777"}, "--mode"},
      {{"--mode", "66"}, "--mode"},
      {{"--mode", "00660"}, "--mode"},
      {{"--mode", "rw-rw----"}, "--mode"},
      {{"--mode", "-660"}, "--mode"},
      {{"--echo"}, "--echo needs a value"},
      {{"--frobnicate"}, "unknown option --frobnicate"},
      {{"--echo", "7", "--http", "7"}, "same port 7"},
  };
  for (const Case& c : cases) {
    const ParseOutcome p = parse_with_base(c.args);
    INFO(c.names);
    CHECK(p.kind == ParseOutcome::Kind::kError);
    CHECK(p.error.find(c.names) != std::string::npos);
    CHECK(p.error.find('\n') == std::string::npos);
  }
}

TEST_CASE("options: --dev and --ip are required") {
  CHECK(parse({"--ip", "198.18.0.2/24"}).error.find("--dev is required") != std::string::npos);
  CHECK(parse({"--dev", "net_tap0"}).error.find("--ip is required") != std::string::npos);
  CHECK(parse({}).kind == ParseOutcome::Kind::kError);
}

TEST_CASE("core lists") {
  CHECK(parse_core_list("0") == std::vector<unsigned>{0});
  CHECK(parse_core_list("0,1") == std::vector<unsigned>{0, 1});
  CHECK(parse_core_list("0-1") == std::vector<unsigned>{0, 1});
  CHECK(parse_core_list("3,0-1") == std::vector<unsigned>{3, 0, 1});
  CHECK_FALSE(parse_core_list(""));
  CHECK_FALSE(parse_core_list(",0"));
  CHECK_FALSE(parse_core_list("0-"));
  CHECK_FALSE(parse_core_list("-1"));
}

TEST_CASE("options: --group takes a name or a number, --mode three or four octal digits") {
  for (const char* g : {"utcp", "www-data", "1000", "_svc"}) {
    const ParseOutcome p = parse_with_base({"--group", g});
    REQUIRE(p.kind == ParseOutcome::Kind::kRun);
    CHECK(p.options.control_group == g);
  }
  const std::pair<const char*, std::uint32_t> modes[] = {
      {"660", 0660}, {"0660", 0660}, {"0666", 0666}, {"600", 0600}, {"0777", 0777}, {"0000", 0}};
  for (const auto& [text, mode] : modes) {
    const ParseOutcome p = parse_with_base({"--mode", text});
    INFO(text);
    REQUIRE(p.kind == ParseOutcome::Kind::kRun);
    CHECK(p.options.control_mode == mode);
  }
  CHECK(usage().find("--group NAME") != std::string::npos);
  CHECK(usage().find("--mode OCTAL") != std::string::npos);
}

#!/usr/bin/env bash
# Installs what building and testing utcp needs on Debian 12, and nothing when it is
# all there already (so the README's commands stay fast on a prepared machine).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config   # the build
  catch2                                         # unit tests (Catch2 v2)
  libbenchmark-dev                               # micro-benchmarks (bench/)
  libdpdk-dev dpdk libnuma-dev                   # dpdk_io/, utcpd
  iproute2 iputils-ping                          # integration tests: netns, veth, ping
  curl socat python3 procps                      # integration tests: clients, process stats
  wrk apache2-utils                              # integration tests and benchmarks: wrk, ab
  nftables ethtool                               # integration tests: loss; veth offloads
  nginx lighttpd                                 # libutcp.so acceptance: real servers
  redis-server                                   # integration: an idle server's CPU (timed_waits_test)
  openssh-server openssh-client                  # libutcp.so acceptance: sshd (re-exec, privsep, seccomp)
  gnuplot-nox                                    # benchmarks: the A/B plots
  tshark                                         # integration tests: reading utcpd --pcap
  python3-scapy                                  # integration tests: crafted malformed packets, SYN flood
  clang-14 libclang-rt-14-dev llvm-14            # fuzz targets (libFuzzer, symbolizer): scripts/fuzz.sh
)

# The group that may attach to utcpd's control socket besides root (utcpd --group,
# docs/security.md). utcpd never creates it; this does, once.
if ! getent group utcp >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "utcp: group utcp is missing: utcpd will not start without it (run this as root)" >&2
  else
    groupadd --system utcp
    echo "utcp: created group utcp (members may attach to utcpd)"
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "utcp: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "utcp: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

"""The scenarios of the A/B benchmark (bench/ab.py), issue 5's list: the same server
binary and config and the same client on both stacks; only the stack differs.

Each scenario starts its server at an Endpoint (bench/ab_wires.py), warms it up, and
runs one measured client window, returning throughput, latency and the client's CPU.
"""
import atexit
import json
import os
import shutil
import tempfile
import time

from ab_procs import BenchError, ClientResult, Proc, children, in_netns, run_client, sh

_WWW = []


def www():
    """A directory with the 1 KiB file, readable by nginx's unprivileged worker."""
    if not _WWW:
        d = tempfile.mkdtemp(prefix="utcp-ab-www.")
        os.chmod(d, 0o755)
        with open(os.path.join(d, "1k.bin"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(os.path.join(d, "1k.bin"), 0o644)
        _WWW.append(d)
        atexit.register(shutil.rmtree, d, True)
    return _WWW[0]


class Server:
    def __init__(self, proc, with_children):
        self.proc, self.with_children = proc, with_children

    def pids(self):
        """The processes whose CPU counts as the server's (nginx: the master and workers)."""
        if not self.proc.alive():
            raise BenchError(f"{self.proc.name} died: {self.proc.tail()}")
        return [self.proc.pid] + (children(self.proc.pid) if self.with_children else [])

    def stop(self):
        self.proc.stop()


def wait_http(ep, url, proc, got):
    """Up once the server answers 200 through the endpoint's client stack, with the
    file's exact bytes (written to `got`)."""
    for _ in range(100):
        r = sh(*in_netns(ep.client_ns, ["curl", "-s", "-m", "1", "-o", got, "-w",
                                        "%{http_code}", url], ep.client_env), check=False)
        if r == "200":
            with open(got, "rb") as a, open(os.path.join(www(), "1k.bin"), "rb") as b:
                if a.read() != b.read():
                    raise BenchError(f"{proc.name}: {url} answered other bytes than the file")
            print(f"[ab] {ep.side:6} {url}: {proc.name.split('-')[0]} answered the file's bytes"
                  + (" through utcp" if ep.side == "utcp" else ""), flush=True)
            return
        if not proc.alive():
            break
        time.sleep(0.1)
    raise BenchError(f"{proc.name} does not answer {url}: {proc.tail()}")


def to_us(text):
    """wrk's 635.00us / 2.66ms / 1.02s / 1.00m -> microseconds."""
    for unit, scale in (("us", 1), ("ms", 1e3), ("s", 1e6), ("m", 6e7)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def parse_wrk(out):
    """requests, req/s, p50, p99 and errors from `wrk --latency`."""
    fields, errors = {}, 0
    for line in out.splitlines():
        words = line.split()
        if " requests in " in line:
            fields["ops"] = int(words[0])
            fields["seconds"] = to_us(words[3].rstrip(",")) / 1e6
        elif words[:1] == ["Requests/sec:"]:
            fields["rate"] = float(words[1])
        elif words[:1] in (["50%"], ["99%"]):
            fields["p" + words[0][:-1] + "_us"] = to_us(words[1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(w.rstrip(",")) for w in words[2:] if w.rstrip(",").isdigit())
        elif line.strip().startswith("Non-2xx"):
            errors += int(words[-1])
    fields["errors"] = errors
    return fields


class Http:
    """nginx or lighttpd serving a 1 KiB file to wrk -t2 -c100."""
    unit = "req"

    def __init__(self, name, server, workers, close, desc):
        self.name, self.server, self.workers, self.close, self.desc = name, server, workers, close, desc
        # A port per scenario (its place in SCENARIOS, built in order below): a server
        # never binds where the previous one's connections may still be in TIME-WAIT.
        self.port = 8000 + len(SCENARIOS)

    def start_server(self, ep, work):
        d = os.path.join(work, f"{self.name}-{ep.side}")
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        os.chmod(d, 0o755)
        conf = os.path.join(d, "server.conf")
        with open(conf, "w") as f:
            f.write(self.nginx_conf(d) if self.server == "nginx" else self.lighttpd_conf(d))
        binary = shutil.which(self.server)
        argv = [binary, "-c", conf] if self.server == "nginx" else [binary, "-D", "-f", conf]
        proc = Proc(f"{self.server}-{self.name}-{ep.side}", in_netns(ep.server_ns, argv, ep.server_env), d)
        server = Server(proc, self.server == "nginx")
        try:
            wait_http(ep, self.url(ep), proc, os.path.join(d, "probe.bin"))
        except BenchError:
            server.stop()
            raise
        return server

    def nginx_conf(self, d):
        return f"""daemon off;
worker_processes {self.workers};
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  server {{ listen {self.port} reuseport; root {www()}; }}
}}
"""

    def lighttpd_conf(self, d):
        # One process (no server.max-worker); keep-alive as long as wrk wants it.
        return f"""server.document-root = "{www()}"
server.port = {self.port}
server.errorlog = "{d}/error.log"
server.max-keep-alive-requests = 65000
server.max-connections = 4096
mimetype.assign = ( ".bin" => "application/octet-stream" )
"""

    def url(self, ep):
        return f"http://{ep.server_ip}:{self.port}/1k.bin"

    def wrk(self, ep, seconds):
        argv = ["wrk", "-t2", "-c100", f"-d{seconds}s", "--latency"]
        if self.close:
            argv += ["-H", "Connection: close"]
        return in_netns(ep.client_ns, argv + [self.url(ep)], ep.client_env)

    def warm_up(self, ep, seconds, log):
        if seconds:
            run_client(self.wrk(ep, seconds), seconds + 30, log)

    def run_client(self, ep, seconds, log):
        code, out, err, cpu = run_client(self.wrk(ep, seconds), seconds + 30, log)
        fields = parse_wrk(out)
        ok = code == 0 and fields.get("ops", 0) > 0 and "rate" in fields and "p99_us" in fields
        reason = "" if ok else f"wrk exit {code}: {(err or out).strip()[-200:]}"
        return ClientResult(ok, reason, cpu, fields)


class Msgload:
    """tools/utcp-msgload: 64-byte request/response on many persistent connections
    (mTCP's small-message test), or bulk streams from server to client."""

    def __init__(self, name, mode, conns, desc, size=64):
        self.name, self.mode, self.conns, self.desc, self.size = name, mode, conns, desc, size
        self.unit = "byte" if mode == "bulk" else "req"
        self.port = 8000 + len(SCENARIOS)  # as Http's

    def start_server(self, ep, work):
        d = os.path.join(work, f"{self.name}-{ep.side}")
        os.makedirs(d, exist_ok=True)
        argv = [msgload_binary(), "server", "--listen", f"{ep.server_ip}:{self.port}"]
        proc = Proc(f"msgload-{self.name}-{ep.side}", in_netns(ep.server_ns, argv, ep.server_env), d)
        try:
            proc.wait_for_line("ready", 15)
        except BenchError:
            proc.stop()
            raise
        return Server(proc, False)

    def client(self, ep, seconds):
        argv = [msgload_binary(), "client", "--connect", f"{ep.server_ip}:{self.port}", "--mode",
                self.mode, "--conns", str(self.conns), "--size", str(self.size),
                "--duration", str(seconds)]
        return in_netns(ep.client_ns, argv, ep.client_env)

    def warm_up(self, ep, seconds, log):
        run_client(self.client(ep, seconds or 0.2), 30, log)

    def run_client(self, ep, seconds, log):
        code, out, err, cpu = run_client(self.client(ep, seconds), seconds + 30, log)
        try:
            r = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return ClientResult(False, f"utcp-msgload exit {code}: {err.strip()[-200:]}", cpu, {})
        fields = {"seconds": r["seconds"], "ops": r["ops"] if self.unit == "req" else r["bytes"],
                  "rate": r["rate"], "errors": r["errors"] + r["connect_errors"]}
        if self.unit == "req":
            fields.update(p50_us=r["p50_us"], p99_us=r["p99_us"])
        ok = code == 0 and fields["ops"] > 0
        return ClientResult(ok, "" if ok else f"utcp-msgload exit {code}: {err.strip()[-200:]}",
                            cpu, fields)


BUILD = []  # set by ab.py: the build directory (tools/utcp-msgload lives there)


def msgload_binary():
    return os.path.join(BUILD[0], "tools/utcp-msgload")


SCENARIOS = []
for s in (
    lambda: Http("nginx-ka-1w", "nginx", 1, False,
                 "nginx, 1 worker, 1 KiB static file, keep-alive: wrk -t2 -c100"),
    lambda: Http("nginx-ka-2w", "nginx", 2, False,
                 "nginx, 2 workers (reuseport), 1 KiB static file, keep-alive: wrk -t2 -c100"),
    lambda: Http("nginx-close", "nginx", 1, True,
                 "nginx, 1 worker, 1 KiB, a connection per request: wrk -t2 -c100 -H 'Connection: close'"),
    lambda: Http("lighttpd-ka", "lighttpd", 1, False,
                 "lighttpd (one process), 1 KiB static file, keep-alive: wrk -t2 -c100"),
    lambda: Http("lighttpd-close", "lighttpd", 1, True,
                 "lighttpd (one process), 1 KiB, a connection per request: wrk -t2 -c100 -H 'Connection: close'"),
    lambda: Msgload("msg-rr", "rr", 200, "64-byte request/response, 200 persistent connections, "
                    "one request outstanding each: utcp-msgload (plain sockets) client and server"),
    lambda: Msgload("bulk-1", "bulk", 1, "bulk, one stream server -> client, MB/s: utcp-msgload"),
    lambda: Msgload("bulk-4", "bulk", 4, "bulk, four streams server -> client, MB/s: utcp-msgload"),
):
    SCENARIOS.append(s())

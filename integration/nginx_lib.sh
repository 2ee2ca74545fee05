# nginx under libutcp.so for the integration tests (sourced). The sourcing script sets
# WORK (chmod 755: nginx's workers run as nobody), NS, UTCP_IP, PORT, BUILD, NGINX="" and
# fail(); utcpd is already running with --control $WORK/utcpd.sock. DAEMON=on runs
# nginx as a daemon (a binary upgrade needs it: a master whose parent still runs
# ignores SIGUSR2); NGINX is then the master's pid from its pid file, not our child.

nginx_conf() {  # WORKERS
  cat <<CONF
daemon ${DAEMON:-off};
worker_processes $1;
worker_cpu_affinity auto;
error_log $WORK/error.log info;
pid $WORK/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 100000;
  client_body_temp_path $WORK/tmp-body;
  proxy_temp_path $WORK/tmp-proxy;
  fastcgi_temp_path $WORK/tmp-fcgi;
  uwsgi_temp_path $WORK/tmp-uwsgi;
  scgi_temp_path $WORK/tmp-scgi;
  server {
    listen $PORT${LISTEN_OPTS:-};
    root $WORK/www;
  }
}
CONF
}

start_nginx() {  # WORKERS
  nginx_conf "$1" >"$WORK/nginx.conf"
  # `utcp run` is how people start a program on utcp (it sets LD_PRELOAD to $LIB's copy).
  ip netns exec "$NS" "$BUILD/tools/utcp" run --control "$WORK/utcpd.sock" -- \
    "$(command -v nginx)" -c "$WORK/nginx.conf" >"$WORK/nginx.out" 2>&1 &
  NGINX=$!
  if [ "${DAEMON:-off}" = on ]; then
    wait "$NGINX"
    for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
    NGINX=$(cat "$WORK/nginx.pid" 2>/dev/null)
    [ -n "$NGINX" ] || { fail "nginx wrote no pid file: $(cat "$WORK/nginx.out")"; return 1; }
  fi
  for _ in $(seq 100); do
    [ "$(nginx_probe)" = 200 ] && return 0
    kill -0 "$NGINX" 2>/dev/null || break
    sleep 0.1
  done
  fail "nginx ($1 workers) did not answer: $(tail -3 "$WORK/error.log" 2>/dev/null)"
  return 1
}

# The HTTP status of one request to the server (a test whose server the kernel cannot
# reach redefines this after sourcing).
nginx_probe() { ns curl -s -m 1 -o /dev/null -w '%{http_code}' "http://$UTCP_IP:$PORT/1k.bin"; }

stop_nginx() {
  [ -n "$NGINX" ] || return 0
  kill -QUIT "$NGINX" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$NGINX" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$NGINX" 2>/dev/null && { fail "nginx ignored SIGQUIT"; kill -KILL "$NGINX"; }
  [ "${DAEMON:-off}" = on ] || wait "$NGINX" 2>/dev/null
  NGINX=""
}

ns() { timeout 60 ip netns exec "$NS" "$@"; }
workers() { ps -o pid= --ppid "$NGINX" | tr -d ' ' | sort; }


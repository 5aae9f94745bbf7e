# mypy: ignore-errors
# (runs inside the lab container with Debian's python3 and psycopg2, not the project's)
"""The lab backend: stdlib HTTP server on :8000; /health queries the database."""

import json
import signal
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import db


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            try:
                conn = db.connect()
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
                finally:
                    conn.close()
            except Exception as exc:
                msg = str(exc).strip()
                print(f"ERROR health check failed: {msg}", file=sys.stderr, flush=True)
                self._send(503, {"status": "error", "error": msg})
                return
            self._send(200, {"status": "ok"})
            return
        if self.path == "/orders":
            try:
                conn = db.connect()
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT count(*) FROM orders")
                        count = cur.fetchone()[0]
                finally:
                    conn.close()
            except Exception as exc:
                traceback.print_exc()
                self._send(500, {"error": str(exc).strip()})
                return
            self._send(200, {"orders": count})
            return
        self._send(200, {"app": "stackbot-lab backend"})

    def log_message(self, format, *args):
        if self.path != "/health":
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def main():
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    server.daemon_threads = True

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening on :8000", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""Studio's client against small real HTTP servers that misbehave: one that goes silent after
accepting a job, one that is still starting. The client must give up with one clear line."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.server_client import ServerClient, ServerError


class _Silent(BaseHTTPRequestHandler):
    """Accepts the job, sends one event, then nothing (a server whose job board hung)."""

    released = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b'event: started\ndata: {"total_steps": 1}\n\n')
        self.wfile.flush()
        self.released.wait(30)

    def log_message(self, *args):
        pass


class _Starting(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"detail": "the server is starting its engines; try again in 2 s"}).encode()
        self.send_response(503)
        self.send_header("Retry-After", "2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    _Silent.released.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_server_that_goes_silent_mid_job_is_given_up_with_a_clear_message(serve):
    url = serve(_Silent)
    client = ServerClient(url, idle_timeout=0.5)
    outcome = []

    def run():
        try:
            outcome.append(client.run({"prompt": "p"}))
        except ServerError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert outcome == [f"the server at {url} sent nothing for 0.5 s; the job was given up"]


def test_a_server_still_starting_is_said_to_be_starting(serve):
    url = serve(_Starting)
    with pytest.raises(ServerError) as caught:
        ServerClient(url).run({"prompt": "p"})
    assert str(caught.value) == f"the server at {url} is starting its engines; try again in 2 s"

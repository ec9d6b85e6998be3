"""A real HTTP fake of the OpenAI chat-completions endpoint, on 127.0.0.1, with scripted replies.

Each request takes the next step of the script:
  {"content": "..."}                       a reply (finish_reason "stop" unless "finish_reason" is given)
  {"status": 429, "headers": {...}}        an error response
  {"delay": 0.5, "content": "..."}         a reply after a delay (for timeouts)
  {"raw": "<html>...", "content_type": "text/html", "status": 200}
                                           these bytes as the body, as they are (a proxy's page, another API)
  callable(request_body) -> step           a step computed from the request
``reject_json_schema`` answers 400 to any request asking for JSON-schema output, without
taking a step, as endpoints without structured output do. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self):
        self.steps: list = []
        self.requests: list[dict] = []
        self.reject_json_schema = False
        self.default: dict | None = None
        self.record = True  # the step used when the script is exhausted (load tests)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    if fake.record:
                        fake.requests.append(body)
                    rejected = fake.reject_json_schema and \
                        (body.get("response_format") or {}).get("type") == "json_schema"
                    step = None if rejected else (fake.steps.pop(0) if fake.steps else fake.default or
                                                  {"status": 599, "error": "the fake has no more scripted replies"})
                if rejected:
                    return self._send(400, {"error": {"message": "response_format json_schema is not supported",
                                                      "type": "invalid_request_error"}})
                if callable(step):
                    step = step(body)
                if step.get("delay"):
                    time.sleep(step["delay"])
                if "raw" in step:
                    raw = step["raw"].encode() if isinstance(step["raw"], str) else step["raw"]
                    return self._send(step.get("status", 200), raw, {"content-type": step.get("content_type",
                                                                                               "text/html")})
                if "status" in step:
                    return self._send(step["status"], {"error": {"message": step.get("error", "scripted error")}},
                                      step.get("headers", {}))
                content = step["content"]
                prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
                self._send(200, {
                    "id": f"chatcmpl-{len(fake.requests)}", "object": "chat.completion", "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": step.get("finish_reason", "stop")}],
                    "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(content) // 4,
                              "total_tokens": prompt_chars // 4 + len(content) // 4},
                })

            def _send(self, status, payload, headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = {"content-type": "application/json", **(headers or {})}
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *steps) -> FakeLLM:
        with self._lock:
            self.steps = list(steps)
            self.requests = []
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

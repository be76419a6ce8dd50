"""fault_proxy.py: a proxy that breaks some requests on purpose, for the
S3 fault tests: it answers 500 InternalError or 503 SlowDown, resets the
connection, stalls without answering, or relays an answer cut short (the
full Content-Length, half the body, then a close). Other requests are
forwarded unchanged (Host and signature headers too, so a sigv4_proxy.py
behind it still checks them).

    with FaultProxy(upstream_port) as f:
        f.set("cut", rate=0.5, methods={"GET"}); ...; f.set("none")
        f.set("500", methods={"PUT"}, match="partNumber=2&", times=1)  # one part, once
        f.injected  # faults made, by mode
        f.stalling(text)  # the stalls in progress of paths with text in them
CLI: fault_proxy.py LISTEN_PORT UPSTREAM_PORT MODE [RATE]
"""
import random
import socket
import struct
import sys
import threading

from proxy import Proxy, s3_error

MODES = ("none", "500", "503", "reset", "stall", "cut")


class FaultProxy(Proxy):
    def __init__(self, upstream_port, port=0, seed=1):
        super().__init__(upstream_port, port)
        self.rng = random.Random(seed)
        self.mode, self.rate, self.methods = "none", 1.0, None
        self.match, self.times = None, None
        self.stall_seconds = 30
        self.stalls = {}  # the stalls in progress: a serial number -> the request's path
        self.serial = 0
        self.stopping = threading.Event()

    @property
    def injected(self):
        return {m: self.counts.get(m, 0) for m in MODES[1:]}

    def stalling(self, text):
        with self.lock:
            return {k for k, path in self.stalls.items() if text in path}

    def set(self, mode, rate=1.0, methods=None, match=None, times=None):
        """Break requests with mode: a share (rate) of those of the methods
        given, whose path and query hold match, at most times of them
        (None: no bound)."""
        assert mode in MODES, mode
        with self.lock:
            self.mode, self.rate, self.methods = mode, rate, methods
            self.match, self.times = match, times

    def intercept(self, handler, body):
        with self.lock:
            mode = self.mode
            if mode == "none" or (self.methods and handler.command not in self.methods) \
                    or (self.match and self.match not in handler.path) \
                    or self.times == 0 or self.rng.random() >= self.rate:
                return False
            if self.times is not None:
                self.times -= 1
        if mode == "cut":
            # an empty answer (a PUT's) cannot be cut: no fault then
            if handler.forward(body, cut=True):
                self.count(mode)
                self.mark(mode)
            return True
        self.count(mode)
        self.mark(mode)
        if mode == "500":
            handler.answer(500, s3_error("InternalError", "injected"))
        elif mode == "503":
            handler.answer(503, s3_error("SlowDown", "injected"))
        elif mode == "reset":
            # SO_LINGER 0: close sends RST, the client sees a reset
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
        elif mode == "stall":
            with self.lock:
                self.serial += 1
                me = self.serial
                self.stalls[me] = handler.path
            try:
                self.stopping.wait(self.stall_seconds)
            finally:
                with self.lock:
                    del self.stalls[me]
            handler.close_connection = True
        return True

    def stop(self):
        self.stopping.set()
        super().stop()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: fault_proxy.py LISTEN_PORT UPSTREAM_PORT MODE [RATE]")
    f = FaultProxy(int(sys.argv[2]), int(sys.argv[1]))
    f.set(sys.argv[3], float(sys.argv[4]) if len(sys.argv) == 5 else 1.0)
    print(f.endpoint, flush=True)
    try:
        f.httpd.serve_forever()
    except KeyboardInterrupt:
        pass

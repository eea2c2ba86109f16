"""A TCP path the scenario controls: a forwarding proxy on a port of its own, and a black hole
on that port (iptables DROP on loopback, both directions) for a stalled network. A stall that
only stopped forwarding would still have the proxy's kernel acknowledge every packet, which no
real partition does: TCP keepalives and tcp_user_timeout could never notice it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading

from chaos.services import free_port


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stalled = False
        self._closing = False
        threading.Thread(target=self._accept, daemon=True, name="chaos-proxy").start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _rules(self, action: str) -> None:
        for match in ("--dport", "--sport"):
            subprocess.run(
                ["iptables", action, "INPUT", "-i", "lo", "-p", "tcp", match, str(self.port), "-j", "DROP"],
                check=action == "-I",
                capture_output=True,
                timeout=30,
            )

    def stall(self) -> None:
        """Every packet to and from the proxy's port is dropped, as in a partition."""
        self._rules("-I")
        self._stalled = True

    def resume(self) -> None:
        if self._stalled:
            self._rules("-D")
            self._stalled = False

    def close(self) -> None:
        self.resume()
        self._closing = True
        self._server.close()

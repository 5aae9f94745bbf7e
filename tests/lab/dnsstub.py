"""A DNS server that answers NXDOMAIN to every query.

The lab dockerds pass it to containers (``--dns``) so that Docker's embedded DNS
forwards names it does not know here, and a missing service gives the same answer as
on a real server with an upstream resolver: ``(3: Host not found)`` in nginx,
``Name or service not known`` in libc. No query ever leaves the namespace.

Run as a script: ``python3 dnsstub.py ADDRESS PIDFILE``.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys


def nxdomain(query: bytes) -> bytes | None:
    """The NXDOMAIN reply to a DNS query message, None if it is not one."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:  # a response, not a query
        return None
    pos = 12
    for _ in range(qdcount):
        while pos < len(query) and query[pos] != 0:
            pos += 1 + query[pos]
        pos += 5  # the root label, QTYPE, QCLASS
    if pos > len(query):
        return None
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 3  # QR, opcode+RD, RA, NXDOMAIN
    header = struct.pack("!HHHHHH", ident, reply_flags, qdcount, 0, 0, 0)
    return header + query[12:pos]


def serve(address: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))
    while True:
        data, peer = sock.recvfrom(4096)
        reply = nxdomain(data)
        if reply is not None:
            sock.sendto(reply, peer)


def main(argv: list[str]) -> int:
    address, pidfile = argv[1], argv[2]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    serve(address)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: binds a unix datagram socket (a path, or
'@name' for an abstract one) and appends each datagram to OUT as one line, its newlines shown
as '|'. usage: notify_sink.py SOCKET OUT"""
import socket
import sys

name, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
open(out, "w").close()   # exists once bound: the test waits for it
while True:
    d = s.recv(4096).decode()
    with open(out, "a") as f:
        f.write(d.replace("\n", "|") + "\n")

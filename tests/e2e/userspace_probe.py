#!/usr/bin/env python3
"""Probes for the userspace-mode e2e tests (SOCKS5 clients, good and bad; bulk helpers).
  connect PROXY_ADDR PROXY_PORT DST_IP DST_PORT  -> prints the SOCKS reply code
  udp-dns PROXY_ADDR PROXY_PORT DNS_IP NAME       -> prints the first A record (via UDP ASSOCIATE)
  garbage PROXY_ADDR PROXY_PORT                   -> prints "closed" if the proxy hangs up
  stall PROXY_ADDR PROXY_PORT                     -> half a greeting, prints "closed" on timeout close
  serve-file ADDR PORT FILE                       -> accepts one connection, sends FILE, closes
  recv ADDR PORT OUT                              -> connects, writes everything received to OUT
"""
import socket, struct, sys, time

def socks_connect(paddr, pport, dst, dport):
    s = socket.create_connection((paddr, int(pport)), timeout=15)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(dst) + struct.pack("!H", int(dport)))
    rep = s.recv(10)
    print(rep[1])

def udp_dns(paddr, pport, dns, name):
    s = socket.create_connection((paddr, int(pport)), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep = s.recv(10)
    assert rep[1] == 0, rep
    relay = (socket.inet_ntoa(rep[4:8]), struct.unpack("!H", rep[8:10])[0])
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    hdr = b"\x00\x00\x00\x01" + socket.inet_aton(dns) + struct.pack("!H", 53)
    for _ in range(3):
        u.sendto(hdr + q, relay)
        try:
            data, _ = u.recvfrom(4096)
        except socket.timeout:
            continue
        msg = data[10:]
        print(socket.inet_ntoa(msg[-4:]))
        return
    print("timeout")

def wait_closed(s, secs):
    s.settimeout(secs)
    try:
        while s.recv(4096):
            pass
        print("closed")
    except (socket.timeout, TimeoutError):
        print("open")
    except ConnectionResetError:
        print("closed")

def garbage(paddr, pport):
    s = socket.create_connection((paddr, int(pport)), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n\x00\xff" * 10)
    wait_closed(s, 5)

def stall(paddr, pport):
    s = socket.create_connection((paddr, int(pport)), timeout=5)
    s.sendall(b"\x05\x02")
    wait_closed(s, 8)

def serve_file(addr, port, path):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, int(port)))
    l.listen(1)
    l.settimeout(30)
    c, _ = l.accept()
    with open(path, "rb") as f:
        c.sendall(f.read())
    c.close()

def recv(addr, port, out):
    s = socket.create_connection((addr, int(port)), timeout=30)
    with open(out, "wb") as f:
        while True:
            d = s.recv(65536)
            if not d:
                break
            f.write(d)

cmds = {"connect": socks_connect, "udp-dns": udp_dns, "garbage": garbage, "stall": stall,
        "serve-file": serve_file, "recv": recv}
if len(sys.argv) < 2 or sys.argv[1] not in cmds: sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])

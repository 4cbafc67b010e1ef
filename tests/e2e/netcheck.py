#!/usr/bin/env python3
"""Small traffic tools for the end-to-end tests (bounded in count and time).

  tcp-sink ADDR PORT OUTFILE        accept one connection, write what arrives to OUTFILE, exit
  tcp-send ADDR PORT FILE           send FILE over one TCP connection
  udp-echo ADDR PORT COUNT          echo up to COUNT datagrams (exits after 30 s idle)
  udp-check ADDR PORT COUNT         send COUNT datagrams, print how many echoes came back
"""
import socket, sys, time

def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET

def tcp_sink(addr, port, out):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(1); s.settimeout(60)
    c, _ = s.accept(); c.settimeout(60)
    with open(out, 'wb') as f:
        while True:
            b = c.recv(1 << 16)
            if not b: break
            f.write(b)

def tcp_send(addr, port, path):
    deadline = time.time() + 10
    while True:
        try:
            s = socket.create_connection((addr, int(port)), timeout=10); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.2)
    s.settimeout(60)
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 16)
            if not b: break
            s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()

def udp_echo(addr, port, count):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port))); s.settimeout(30)
    for _ in range(int(count)):
        try: b, peer = s.recvfrom(65535)
        except socket.timeout: return
        s.sendto(b, peer)

def udp_check(addr, port, count):
    s = socket.socket(family(addr), socket.SOCK_DGRAM); s.settimeout(0.5)
    got = 0
    for i in range(int(count)):
        msg = b'ptun-%06d' % i + b'x' * 1000
        s.sendto(msg, (addr, int(port)))
        try:
            b, _ = s.recvfrom(65535)
            if b == msg: got += 1
        except socket.timeout: pass
    print(got)

cmds = {'tcp-sink': tcp_sink, 'tcp-send': tcp_send, 'udp-echo': udp_echo, 'udp-check': udp_check}
if len(sys.argv) < 2 or sys.argv[1] not in cmds: sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])

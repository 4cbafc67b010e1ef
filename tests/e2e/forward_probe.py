#!/usr/bin/env python3
"""Probes for the server's userspace forwarding (test_forward_userspace.sh).
  udp-flows ADDR PORT N        N sockets (N source ports) each send one datagram to an echo
                               service; prints how many got their own reply back
  tcp-idle ADDR PORT SECS      connects, stays idle SECS, then prints what the connection
                               became: "reset", "eof" or "open"
  refused ADDR PORT            prints "refused", "unreachable", "timeout" or "connected" and the
                               seconds taken
  dns ADDR NAME                an A query over UDP; prints the first address of the answer
  rst-server ADDR PORT         accepts one connection and closes it with a reset (linger 0)
  udp-closed ADDR PORT         a connected UDP socket sends to a closed port; prints "refused"
                               (the ICMP port unreachable came back) or "timeout"
  tcp-hold ADDR PORT N SECS    N idle TCP connections; prints "ready N" when all are up, then
                               holds them until stdin closes or SECS
"""
import socket, struct, sys, time

def family(addr): return socket.AF_INET6 if ':' in addr else socket.AF_INET

def udp_flows(addr, port, n):
    socks = []
    for i in range(int(n)):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.setblocking(False)
        s.sendto(b'flow-%d' % i, (addr, int(port)))
        socks.append(s)
    got, end = set(), time.time() + 3
    while time.time() < end and len(got) < len(socks):
        for i, s in enumerate(socks):
            try:
                if s.recv(100) == b'flow-%d' % i: got.add(i)
            except BlockingIOError: pass
        time.sleep(0.05)
    print(len(got))

def tcp_idle(addr, port, secs):
    s = socket.create_connection((addr, int(port)), timeout=5)
    time.sleep(float(secs))
    s.settimeout(3)
    try:
        s.send(b'x')
        b = s.recv(1)
        print('eof' if b == b'' else 'open')
    except ConnectionResetError: print('reset')
    except BrokenPipeError: print('reset')
    except socket.timeout: print('open')

def refused(addr, port):
    t0 = time.time()
    try:
        socket.create_connection((addr, int(port)), timeout=5).close(); r = 'connected'
    except ConnectionRefusedError: r = 'refused'
    except socket.timeout: r = 'timeout'
    except OSError as e:
        import errno
        if e.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH): raise
        r = 'unreachable'
    print(r, '%.2f' % (time.time() - t0))

def dns(addr, name):
    q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
    q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0' + struct.pack('>HH', 1, 1)
    s = socket.socket(family(addr), socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(q, (addr, 53))
    r = s.recv(1500)
    an = struct.unpack('>H', r[6:8])[0]
    if an == 0: print('none'); return
    print(socket.inet_ntoa(r[-4:]))

def rst_server(addr, port):
    l = socket.socket(family(addr), socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, int(port))); l.listen(1); l.settimeout(20)
    c, _ = l.accept()
    time.sleep(0.5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()

def tcp_hold(addr, port, n, secs):
    held = [socket.create_connection((addr, int(port)), timeout=10) for _ in range(int(n))]
    print('ready', len(held), flush=True)
    import select
    select.select([sys.stdin], [], [], float(secs))

def udp_closed(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM); s.settimeout(3)
    s.connect((addr, int(port)))
    try:
        s.send(b'anyone?'); s.recv(100); print('answered')
    except ConnectionRefusedError: print('refused')
    except socket.timeout: print('timeout')

cmds = {'udp-closed': udp_closed, 'tcp-hold': tcp_hold, 'rst-server': rst_server, 'udp-flows': udp_flows, 'tcp-idle': tcp_idle, 'refused': refused, 'dns': dns}
if len(sys.argv) < 2 or sys.argv[1] not in cmds: sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])

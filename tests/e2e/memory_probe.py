#!/usr/bin/env python3
# Helpers of test_userspace_memory.sh (a client attacking the userspace forwarder's memory).
#   sink PORT                 accept on every address, never read (tiny receive buffers)
#   source PORT               accept, write to every connection as fast as it takes
#   attack ADDR SINK SOURCE NTINY NZERO SECS
#                             NZERO connections to SOURCE that never read (their window closes),
#                             NTINY connections to SINK sent one byte per send() (TCP_NODELAY)
#                             for SECS seconds; prints JSON counts
#   rss PID SECS OUT          samples VmRSS of PID every 0.2 s for SECS, writes the peak (KiB)
import json, select, socket, sys, time

def listener(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # inherited by accepted sockets
    s.bind(("0.0.0.0", port))
    s.listen(1024)
    return s

def sink(port):
    l = listener(port, 4096)
    held = []
    while True:
        c, _ = l.accept()
        held.append(c)

def source(port):
    l = listener(port)
    l.setblocking(False)
    conns = []
    chunk = b"z" * 65536
    while True:
        r, w, _ = select.select([l], conns, [], 1.0)
        if r:
            try:
                c, _ = l.accept()
                c.setblocking(False)
                conns.append(c)
            except BlockingIOError:
                pass
        for c in w:
            try:
                c.send(chunk)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                conns.remove(c)
                c.close()

def attack(addr, sink_port, source_port, ntiny, nzero, secs):
    out = {"zero_opened": 0, "tiny_opened": 0, "tiny_bytes": 0, "tiny_sends_blocked": 0, "connect_failed": 0}
    zero, tiny = [], []
    for _ in range(nzero):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # fills at once: zero window
        s.settimeout(10)
        try:
            s.connect((addr, source_port))
            zero.append(s)
            out["zero_opened"] += 1
        except OSError:
            out["connect_failed"] += 1
    for _ in range(ntiny):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(10)
        try:
            s.connect((addr, sink_port))
            s.setblocking(False)
            tiny.append(s)
            out["tiny_opened"] += 1
        except OSError:
            out["connect_failed"] += 1
    end = time.time() + secs
    while time.time() < end and tiny:
        _, w, _ = select.select([], tiny, [], 0.2)
        for s in w:
            for _ in range(64):   # one byte per send: one segment each while the window is open
                try:
                    s.send(b"x")
                    out["tiny_bytes"] += 1
                except (BlockingIOError, InterruptedError):
                    out["tiny_sends_blocked"] += 1
                    break
                except OSError:
                    tiny.remove(s)
                    break
    print(json.dumps(out))
    sys.stdout.flush()
    time.sleep(1)

def rss(pid, secs, outpath):
    peak = 0
    end = time.time() + secs
    while time.time() < end:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        with open(outpath, "w") as f:
            f.write("%d\n" % peak)
        time.sleep(0.2)

if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "sink": sink(int(a[0]))
    elif cmd == "source": source(int(a[0]))
    elif cmd == "attack": attack(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), float(a[5]))
    elif cmd == "rss": rss(int(a[0]), float(a[1]), a[2])
    else: sys.exit("unknown command " + cmd)

#!/usr/bin/env bash
# Flash budget: for each static build (build-static = x86-64, build-cross-TARGET), the stripped
# size of dist/ptun and what each part costs, from the linker map (ptun.map, written by static
# builds). Every allocated byte kept in the file (.text, .rodata, .data, .eh_frame, ...; not .bss)
# is attributed by its input: the archive it came from (mbedTLS, lwIP, libuv, libmnl, libstdc++,
# libc) or, for code compiled into ptun's own objects, the symbol its section is named after
# (-ffunction-sections): toml++, CLI11 and JSON are header-only, so their instantiations live there,
# as do std:: templates. The parts add up to the unstripped binary's allocated size; the stripped
# file adds ELF headers and padding.
# usage: bench/size.sh [BUILD_DIR...]   (default: every build-static and build-cross-* present)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  for d in "$root"/build-static "$root"/build-cross-*; do [ -f "$d/ptun.map" ] && dirs+=("$d"); done
fi
[ ${#dirs[@]} -gt 0 ] || { echo "size.sh: no static build found: make static or make cross TARGET=..." >&2; exit 1; }
status=0
for d in "${dirs[@]}"; do
  [ -f "$d/ptun.map" ] && [ -f "$d/dist/ptun" ] || { echo "size.sh: $d has no ptun.map or dist/ptun" >&2; status=1; continue; }
  python3 - "$d" <<'PY'
import os, re, sys
d = sys.argv[1]
name = os.path.basename(d.rstrip('/'))
target = {'build-static': 'x86-64'}.get(name, name.replace('build-cross-', ''))
stripped = os.path.getsize(os.path.join(d, 'dist/ptun'))

def part(section, origin):
    lib = os.path.basename(origin.split('(')[0])
    by_lib = {'libmbedtls.a': 'mbedTLS', 'liblwip.a': 'lwIP', 'libuv.a': 'libuv', 'libmnl.a': 'libmnl',
              'libstdc++.a': 'libstdc++', 'libsupc++.a': 'libstdc++', 'libgcc.a': 'libgcc',
              'libgcc_eh.a': 'libgcc', 'libc.a': 'libc', 'libm.a': 'libc', 'libpthread.a': 'libc',
              'libresolv.a': 'libc', 'libdl.a': 'libc', 'librt.a': 'libc'}
    if lib in by_lib:
        return by_lib[lib]
    ltrans = '.ltrans' in lib
    if ltrans:
        # LTO output: the archive is gone, the section name (-ffunction/-fdata-sections) remains.
        sym = re.sub(r'^\.(text|rodata|data|sdata|data\.rel\.ro|data\.rel|rel\.ro|gcc_except_table)(\.(hot|unlikely|startup|exit|local))?\.', '', section)
        for prefix, p in (('mbedtls_', 'mbedTLS'), ('psa_', 'mbedTLS'), ('uv_', 'libuv'), ('uv__', 'libuv'),
                          ('mnl_', 'libmnl')):
            if sym.startswith(prefix): return p
        if re.match(r'(lwip_|tcp_|pbuf_|ip4|ip6|ip_|icmp|nd6_|udp_|raw_|netif_|mem_|memp_|sys_|inet_|ipaddr_|lwip)', sym):
            return 'lwIP'
        if not sym.startswith('_Z') and not section.startswith('.text._Z'):
            return 'other (LTO, unnamed)' if sym == section else 'C (LTO, unattributed)'
    if ltrans or lib.startswith('libptun_') or lib.endswith('.cpp.o') or lib.endswith('.c.o'):
        # Header-only libraries and std:: templates instantiated in ptun's objects, by section name.
        if 'toml' in section: return 'toml++'
        if '3CLI' in section: return 'CLI11'
        if 'nlohmann' in section: return 'JSON'
        if re.search(r'_ZN?K?St|_ZNSt|_ZSt|_ZNKSt|_ZTISt|_ZTSSt|_ZTVSt|__cxx11', section): return 'std:: templates'
        return 'ptun'
    if re.search(r'crt[1in]\.o|crtbegin|crtend|crti|crtn', lib): return 'libc'
    return 'other'

parts = {}
alloc = None          # whether the current output section is kept in the file
skip_out = {'.bss', '.tbss', '.sbss', '.comment', '.gnu.attributes', '.mdebug.abi32', '.pdr',
            '.MIPS.abiflags'}
lines = open(os.path.join(d, 'ptun.map'), errors='replace').read().split('\n')
start = next(i for i, l in enumerate(lines) if l.startswith('Linker script and memory map'))
pending = None
for l in lines[start:]:
    if l.startswith('OUTPUT('):
        break
    m = re.match(r'^(\.\S+|/DISCARD/)\s*(0x[0-9a-f]+)?', l)
    if m:
        out = m.group(1)
        alloc = not (out in skip_out or out.startswith('.debug') or out.startswith('.note.gnu.build')
                     or out == '/DISCARD/' or out.startswith('.gnu.warning'))
        pending = None
        continue
    m = re.match(r'^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$', l)
    if m:
        sec, size, origin = m.group(1), int(m.group(3), 16), m.group(4)
    else:
        m = re.match(r'^ (\S+)$', l)
        if m:
            pending = m.group(1); continue
        m = re.match(r'^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$', l)
        if not (m and pending):
            pending = None; continue
        sec, size, origin = pending, int(m.group(2), 16), m.group(3)
        pending = None
    if not alloc or sec.startswith('.bss') or sec.startswith('.sbss') or sec == 'COMMON':
        continue
    if sec == '*fill*':
        p = 'padding'
    else:
        p = part(sec, origin)
    parts[p] = parts.get(p, 0) + size

total = sum(parts.values())
order = ['ptun', 'std:: templates', 'mbedTLS', 'libstdc++', 'libc', 'libgcc', 'CLI11', 'JSON',
         'toml++', 'lwIP', 'libuv', 'libmnl', 'C (LTO, unattributed)', 'other (LTO, unnamed)',
         'padding', 'other']
print(f'{target}: dist/ptun {stripped:,} bytes ({stripped / 1048576:.2f} MiB) stripped, static')
for p in order + sorted(set(parts) - set(order)):
    if p in parts:
        print(f'  {p:<16} {parts[p]:>10,}  {100.0 * parts[p] / total:5.1f} %')
print(f'  {"(sum)":<16} {total:>10,}')
PY
done
exit $status

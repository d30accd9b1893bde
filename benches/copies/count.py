#!/usr/bin/env python3
"""Copies of a 1 MiB payload per hop, in the bench tool's invoke and fanout, both codecs.

    gcc -O2 -shared -fPIC -o /tmp/copies.so benches/copies/copies.c -ldl
    cargo build --profile perf --example bench
    python3 benches/copies/count.py target/perf/examples/bench /tmp/copies.so

Each run has every bench process count its copies of 64 KiB or more by call site (copies.c),
then sorts the sites: the encoder's output growing, the outbox, the read buffer (a frame
arriving), the decoded value's own buffers growing (the real client's value, not a copy of the
payload), the bench real client. Invoke: per call, from the difference of a 1 s and a 3 s run
(so start-up and warm-up cancel out). Fanout: per value emitted, counted by the bench real
client's own copy of each value into its one stream. Figures are in payload sizes; the
kernel's two copies per hop (into and out of the socket) are not in them.
"""
import json,sys,glob,subprocess,os,re,collections,tempfile
binary=sys.argv[1]
shim=os.path.abspath(sys.argv[2])
DIR=tempfile.mkdtemp(prefix='copies-')
P=1048576
sym_cache={}
def sym(tok):
    lib,off=tok.rsplit(':',1)
    if lib!='bench': return lib
    if off not in sym_cache:
        sym_cache[off]=subprocess.run(['addr2line','-f','-C','-e',binary,off],capture_output=True,text=True).stdout.split('\n')[0]
    return sym_cache[off]
def cat(ch):
    j=' '.join(ch)
    if 'Deserialize' in j or 'DeserializeSeed' in j or '::de::' in j: return 'decoded value'
    if 'push_bytes' in j or 'Outbox' in j: return 'outbox'
    if 'FrameCodec' in j or 'BytesMut' in j: return 'read buffer'
    if 'Serializ' in j or 'ser::' in j or 'encode' in j: return 'encoder growth'
    if 'cluster_role' in j or 'Emitter' in j: return 'bench real client'
    return 'other: '+' <- '.join(c[:50] for c in ch[:3])
def run(scen,codec,secs,extra=()):
    for f in glob.glob(DIR+'/site.*'): os.remove(f)
    env=dict(os.environ, LD_PRELOAD=shim, COPIES_DIR=DIR)
    out=subprocess.run([binary, scen, '--payload',str(P),'--codec',codec,'--seconds',str(secs)]+list(extra), env=env, capture_output=True, text=True).stdout
    res=json.loads(out.splitlines()[0])
    roles=collections.defaultdict(collections.Counter)
    for f in glob.glob(DIR+'/site.*'):
        lines=open(f).read().splitlines()
        m=re.search(r'--child (\S+)',lines[0])
        if not m: continue
        for l in lines[1:]:
            p=l.split(); roles[m.group(1)][cat([sym(t) for t in p[3:]])]+=int(p[2])
    return res,roles
for codec in ('json','serialize-json'):
    r1,a1=run('invoke',codec,1); r3,a3=run('invoke',codec,3)
    dc=r3['calls']-r1['calls']
    print(f'invoke {codec}: calls {r1["calls"]} and {r3["calls"]} (errors {r1["errors"]+r3["errors"]}); per call, in payload sizes:')
    per_big=None
    for role in a3:
        cats=set(a1[role])|set(a3[role])
        d={k:(a3[role][k]-a1[role][k])/dc/P for k in cats}
        if role=='follower': per_big=d.get('decoded value',0)
        print('   ',role, '  '.join(f'{k} {v:.2f}' for k,v in sorted(d.items(), key=lambda x:-x[1]) if abs(v)>=0.01))
    r,a=run('fanout',codec,2)
    frames=a['leader']['bench real client']/P
    print(f'fanout {codec}: {frames:.0f} values emitted (the bench real client copies each value once into its one stream); errors {r["errors"]} lost {r.get("lost")}; per value:')
    for role in a:
        print('   ',role, '  '.join(f'{k} {v/P/frames:.2f}' for k,v in a[role].most_common() if v/P/frames>=0.01))

"""Poll the newest SparkSubmit JVM and its python child; keep each thread's last CPU ticks; print totals by thread-name group at exit."""
import os, re, sys, time, collections
out = sys.argv[1]
def pids():
    r = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try: cmd = open(f'/proc/{p}/cmdline','rb').read().decode(errors='replace')
            except OSError: continue
            if 'SparkSubmit' in cmd and 'java' in cmd: r.append(int(p))
    return r
while not pids(): time.sleep(0.2)
jvm = pids()[0]
last = {}
tick = os.sysconf('SC_CLK_TCK')
def group(name):
    name = name if name[:2] in ("C1","C2") else re.sub(r"\d+", "N", name)
    return name
pyl = {}
while os.path.exists(f'/proc/{jvm}'):
    try:
        for t in os.listdir(f'/proc/{jvm}/task'):
            try:
                s = open(f'/proc/{jvm}/task/{t}/stat').read()
                name = s[s.index('(')+1:s.rindex(')')]
                f = s[s.rindex(')')+2:].split()
                last[t] = (name, (int(f[11]) + int(f[12])) / tick)
            except OSError: pass
    except OSError: break
    # python processes (children of spark-submit)
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                s = open(f'/proc/{p}/stat').read()
                name = s[s.index('(')+1:s.rindex(')')]
                if name.startswith('python'):
                    f = s[s.rindex(')')+2:].split()
                    pyl[p] = (name, (int(f[11]) + int(f[12])) / tick)
            except OSError: pass
    time.sleep(0.5)
g = collections.Counter()
for name, c in last.values(): g[group(name)] += c
with open(out, 'w') as o:
    print(f"total jvm {sum(g.values()):.1f}", file=o)
    for k, v in g.most_common(): print(f"{v:8.1f}  {k}", file=o)
    for p,(n,c) in pyl.items(): print(f"python {p} {n} {c:.1f}", file=o)

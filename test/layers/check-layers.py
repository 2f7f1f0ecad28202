#!/usr/bin/env python3
"""The server's layers, checked on the built objects: no object calls or
reads a symbol defined in a layer above its own, and the pure library
(formats, codecs, the transport) needs nothing from the server.

    check-layers.py BUILD_DIR [PURE_DIR]

BUILD_DIR is the extension's build directory (build/extension); PURE_DIR
the pure library's (build/pure, src/pure.mk), whose objects the extension
links from an archive instead of building them itself.  The
layers, lowest first, are the pure library, the server's shared helpers
(src/util), the folders of src/blockdev (docs/architecture.md), the checksum
layer (src/checksum, which never calls the block-device backend, nor it the
checksum layer), the 2PC coordinator (src/twophase), backups (src/backup), and the top (_PG_init, shared memory, the product's
resource manager); a file's layer is its folder's, except where
LAYER_OF_FILE says otherwise.
Exit status 1 and one line per violation when a lower layer uses a higher
one.  Within a layer anything goes.
"""
import os, subprocess, sys

LAYERS = ['pure', 'util', 'device', 'dataio', 'meta', 'forks', 'checkpoint', 'redo',
          'startup', 'sql', 'checksum', 'twophase', 'backup', 'top']
LAYER_OF_FILE = {
    'src/blockdev/device/bd_device.o': 'device',
    'src/blockdev/device/bd_powerloss.o': 'device',
    'src/blockdev/device/bd_write_gens.o': 'dataio',
    'src/blockdev/device/bd_writebehind.o': 'dataio',
    'src/blockdev/device/bd_dataio.o': 'dataio',
    'src/blockdev/bd_shmem.o': 'top',
    'src/pgrac_storage.o': 'top',
    'src/checksum/checksum_state.o': 'pure',
    'src/checksum/checksum_page.o': 'pure',
    'src/twophase/twophase_record.o': 'pure',
    'src/twophase/twophase_segment.o': 'pure',
    'src/twophase/twophase_recovery.o': 'pure',
    'src/twophase/twophase_store.o': 'pure',
    'src/backup/backup_history.o': 'pure',
}


def layer_of(obj):
    if obj in LAYER_OF_FILE:
        return LAYER_OF_FILE[obj]
    parts = obj.split('/')
    if parts[:2] == ['src', 'transport']:
        return 'pure'
    if parts[:2] == ['src', 'blockdev']:
        return parts[2] if len(parts) > 3 else 'pure'
    if parts[:2] == ['src', 'util']:
        return 'util'
    if parts[:2] == ['src', 'checksum']:
        return 'checksum'
    if parts[:2] == ['src', 'twophase']:
        return 'twophase'
    if parts[:2] == ['src', 'backup']:
        return 'backup'
    if parts[:2] == ['src', 'wal']:
        return 'top'
    if parts[:2] in (['src', 'smgr'], ['src', 'fsync_checker']):
        return None         # not part of the block-device backend
    return None


def symbols(path):
    out = subprocess.run(['nm', '--defined-only', '-g', path], capture_output=True,
                         text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) >= 3}
    out = subprocess.run(['nm', '-u', path], capture_output=True, text=True,
                         check=True).stdout
    undefined = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, undefined


def main():
    build = sys.argv[1]
    path = {}           # object, named as src/..., -> its file
    for root, _, files in os.walk(os.path.join(build, 'src')):
        for f in files:
            if f.endswith('.o'):
                path[os.path.relpath(os.path.join(root, f), build)] = os.path.join(root, f)
    if not path:
        sys.exit(f'check-layers: no objects under {build}/src; build the extension first')
    if len(sys.argv) > 2:
        pure = os.path.join(sys.argv[2], 'obj')
        for root, _, files in os.walk(pure):
            for f in files:
                if f.endswith('.o'):
                    path['src/' + os.path.relpath(os.path.join(root, f), pure)] = os.path.join(root, f)
    objs = sorted(path)
    owner = {}
    uses = {}
    for o in objs:
        d, u = symbols(path[o])
        for s in d:
            owner[s] = o
        uses[o] = u
    bad = []
    checked = 0
    for o, us in sorted(uses.items()):
        lo = layer_of(o)
        if lo is None:
            continue
        for s in sorted(us):
            if s not in owner:
                continue        # PostgreSQL's or a library's
            to = owner[s]
            lt = layer_of(to)
            if lt is None:
                if lo == 'pure':
                    bad.append(f'{o} ({lo}) uses {s} from {to} outside the pure library')
                continue
            checked += 1
            if LAYERS.index(lt) > LAYERS.index(lo):
                bad.append(f'{o} ({lo}) uses {s} from {to} ({lt}), a higher layer')
    for b in bad:
        print('layer violation:', b)
    print(f'check-layers: {checked} uses between layers checked, {len(bad)} violations')
    sys.exit(1 if bad else 0)


main()

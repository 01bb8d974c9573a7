#!/usr/bin/env python3
# make-seeds.py: writes the seed corpora of the fuzz targets
#
# SPDX-License-Identifier: BSD-3-Clause
#
# Usage: python3 tests/fuzz/make-seeds.py
#
# Recreates tests/fuzz/seeds/frame/ and tests/fuzz/seeds/pickle/ from
# scratch. Needs only the Python 3 standard library: the Mitogen-specific
# pickles (Blob, Secret, Kwargs, CallError, Context, Sender) are written as
# bytes from the hex examples of the protocol reference, sections 1.5 and
# 3.5, not produced by mitogen itself.
#
# tests/fuzz/seeds/prompt/ holds the texts ssh, sudo, su and doas were seen
# to print (tests/system/README.md, "Observed texts") and the bootstrap's
# MITO00x markers.

import math
import os
import pickle
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, 'seeds')

MAGIC = 0x4d49
DEFAULT_MAX = 128 * 1024 * 1024


def frame(payload=b'', dst=0, src=0, auth=0, handle=0, reply_to=0,
          magic=MAGIC, length=None):
    if length is None:
        length = len(payload)
    return struct.pack('>HLLLLLL', magic, dst, src, auth, handle, reply_to,
                       length) + payload


def frame_input(stream, max_size=None, initial=0, chunks=(0, 0, 0, 0)):
    """Input of fuzz-frame-decoder: see the layout in fuzz-frame-decoder.c."""
    if max_size is None:
        first = 0
    else:
        assert max_size % 8 == 0 and 0 < max_size // 8 < 0x80
        first = 0x80 | (max_size // 8)
    assert 0 <= initial < 256 and len(chunks) == 4
    return bytes([first, initial]) + bytes(chunks) + stream


def write(corpus, name, data):
    with open(os.path.join(SEEDS, corpus, name), 'wb') as f:
        f.write(data)


def frame_seeds():
    call_function = bytes.fromhex(
        '8002284e5805000000706f73697871004e5806000000676574706964710129636d69746f'
        '67656e2e636f72650a4b77617267730a71027d71038571045271057471062e')
    reason = b'the respondent Context has disconnected'
    frames = {
        'call-function': frame(call_function, dst=1, handle=101, reply_to=1000),
        'reply': frame(bytes.fromhex('80024d0b202e'), src=1, auth=1,
                       handle=1000),
        'shutdown': frame(dst=1, handle=106),
        'get-module': frame(b'mitogen.parent', src=1, auth=1, handle=100),
        'dead': frame(reason, handle=1000, reply_to=999),
        'big-payload': frame(bytes(range(256)) * 4, dst=7, src=3, auth=3,
                             handle=0xffffffff, reply_to=0x80000000),
    }
    for name, data in frames.items():
        write('frame', name, frame_input(data))

    everything = b''.join(frames.values())
    write('frame', 'all-one-chunk', frame_input(everything))
    write('frame', 'all-small-chunks', frame_input(everything, chunks=(1, 7, 26, 27)))
    write('frame', 'all-byte-chunks', frame_input(everything, chunks=(1, 1, 1, 1)))
    write('frame', 'growth-from-1', frame_input(frames['big-payload'], initial=1, chunks=(1, 2, 3, 5)))
    write('frame', 'growth-from-16', frame_input(everything, initial=16, chunks=(40, 255, 9, 100)))
    write('frame', 'many-empty', frame_input(frame(handle=106) * 40, chunks=(13, 39, 0, 0)))

    bad = frame(b'xyz', magic=0x4d4a)
    write('frame', 'bad-magic', frame_input(frames['reply'] + bad + frames['shutdown']))
    write('frame', 'bad-magic-split', frame_input(frames['reply'] + bad, chunks=(3, 30, 1, 0)))
    write('frame', 'too-large', frame_input(frames['shutdown'] + frame(b'x' * 40), max_size=32))
    write('frame', 'limit-exact', frame_input(frame(b'x' * 32) + frame(b'y' * 8), max_size=32, chunks=(5, 50, 0, 0)))
    write('frame', 'truncated-header', frame_input(frames['reply'] + frames['shutdown'][:11]))
    write('frame', 'truncated-payload', frame_input(frames['get-module'][:-3]))
    write('frame', 'huge-announced', frame_input(frame(b'0123456789', length=DEFAULT_MAX)))
    write('frame', 'over-default', frame_input(frame(length=DEFAULT_MAX + 1)))
    write('frame', 'empty', frame_input(b''))


def pickle_seeds():
    nested = []
    inner = nested
    for _ in range(10):
        inner.append([])
        inner = inner[0]
    too_deep = []
    inner = too_deep
    for _ in range(60):
        inner.append([])
        inner = inner[0]
    shared = ['shared']
    recursive = []
    recursive.append(recursive)

    values = {
        'none': None,
        'true': True,
        'false': False,
        'int-0': 0,
        'int-255': 255,
        'int-256': 256,
        'int-65536': 65536,
        'int-minus-1': -1,
        'int-min32': -2 ** 31,
        'int-2p31': 2 ** 31,
        'int-2p40': 2 ** 40,
        'int-max64': 2 ** 63 - 1,
        'int-min64': -2 ** 63,
        'int-2p64': 2 ** 64,
        'int-2p100': 2 ** 100,
        'float': 1.5,
        'float-minus-zero': -0.0,
        'float-nan': math.nan,
        'float-inf': math.inf,
        'float-minus-inf': -math.inf,
        'float-tiny': 5e-324,
        'str': 'abc',
        'str-empty': '',
        'str-latin1': '\xe9',
        'str-cjk': '\u65e5\u672c\U0001f600',
        'str-long': 'x' * 300,
        'bytes': b'abc',
        'bytes-empty': b'',
        'bytes-binary': b'\x00\xff\x80' * 50,
        'tuple-0': (),
        'tuple-1': (1,),
        'tuple-2': (1, 'a'),
        'tuple-3': (1, 'a', None),
        'tuple-4': (1, 2, 3, 4),
        'list-empty': [],
        'list-1': [1],
        'list-ints': [1, 2, 3],
        'list-mixed': [1, 'a', None, 2.5, b'b', (1,), [2], {'k': 3}],
        'list-1001': list(range(1001)),
        'dict-empty': {},
        'dict-str': {'a': 1, 'b': [1, 2], 'c': {'d': None}},
        'dict-int': {1: 'x', 2: 'y', -3: 'z'},
        'dict-mixed-keys': {1: 'x', 'a': 'y'},
        'dict-bytes-keys': {b'k': 1},
        'dict-1001': {i: i % 7 for i in range(1001)},
        'nested-10': nested,
        'nested-60': too_deep,
        'shared-refs': [shared, shared, (shared, shared)],
        'recursive-list': recursive,
        'call-args': (None, 'os', None, 'getpid', (), {}),
        'set': {1, 2},
        'bytearray': bytearray(b'xy'),
        'complex': 1j,
    }

    for name, value in values.items():
        write('pickle', 'p2-' + name, pickle.dumps(value, protocol=2))
    for name in ('int-2p40', 'float', 'str', 'str-cjk', 'bytes', 'bytes-empty',
                 'tuple-4', 'list-mixed', 'dict-str', 'shared-refs', 'nested-10',
                 'bytearray'):
        for proto in (0, 3, 4, 5):
            write('pickle', 'p%d-%s' % (proto, name),
                  pickle.dumps(values[name], protocol=proto))

    # The Mitogen forms, as bytes from the protocol reference (3.5 and 1.5).
    mitogen_hex = {
        'blob': '8002636d69746f67656e2e636f72650a426c6f620a7100635f636f6465'
                '63730a656e636f64650a710158020000007879710258060000006c6174'
                '696e3171038671045271058571065271072e',
        'secret': '8002636d69746f67656e2e636f72650a5365637265740a710058020000'
                  '00707771018571025271032e',
        'kwargs': '8002636d69746f67656e2e636f72650a4b77617267730a71007d710158'
                  '010000006171024b01738571035271042e',
        'kwargs-empty': '8002636d69746f67656e2e636f72650a4b77617267730a71007d710185'
                        '71025271032e',
        'call-error': '8002636d69746f67656e2e636f72650a5f756e7069636b6c655f63616c'
                      '6c5f6572726f720a71005804000000626f6f6d71018571025271032e',
        'context': '8002636d69746f67656e2e636f72650a5f756e7069636b6c655f636f6e'
                   '746578740a71004b0558010000007871018671025271032e',
        'context-none': '8002636d69746f67656e2e636f72650a5f756e7069636b6c655f636f6e'
                        '746578740a71004b054e8671015271022e',
        'sender': '8002636d69746f67656e2e636f72650a5f756e7069636b6c655f73656e'
                  '6465720a71004b054dd2048671015271022e',
        'set-refused': '8002635f5f6275696c74696e5f5f0a7365740a71005d71014b01618571'
                       '025271032e',
        'call-function': '8002284e5805000000706f73697871004e5806000000676574706964'
                         '710129636d69746f67656e2e636f72650a4b77617267730a71027d7103'
                         '8571045271057471062e',
        'reply-pid': '80024d0b202e',
    }
    for name, hexdata in mitogen_hex.items():
        write('pickle', 'mitogen-' + name, bytes.fromhex(hexdata))

    # Python 2 senders: str as SHORT_BINSTRING / BINSTRING; no PROTO header.
    write('pickle', 'py2-short-binstring', b'\x80\x02U\x03abcq\x00.')
    write('pickle', 'py2-binstring', b'\x80\x02T\x04\x00\x00\x00abcdq\x00.')
    write('pickle', 'no-proto', b'K\x07.')
    write('pickle', 'pop-mark', b'\x80\x02(K\x01K\x021K\x03.')
    write('pickle', 'pop', b'\x80\x02K\x01K\x020.')
    # Refused or broken inputs, to seed the error paths.
    write('pickle', 'empty', b'')
    write('pickle', 'truncated', pickle.dumps([1, 'abc', 2.5], protocol=2)[:-4])
    write('pickle', 'no-stop', b'\x80\x02K\x01')
    write('pickle', 'trailing', b'\x80\x02K\x01.K')
    write('pickle', 'bad-memo', b'\x80\x02h\x05.')
    write('pickle', 'bytes-huge-int', b'\x80\x02c__builtin__\nbytes\nJ\xff\xff\xff\x7f\x85R.')
    write('pickle', 'codecs-bad-arg', b'\x80\x02c_codecs\nencode\nK\x01X\x06\x00\x00\x00latin1\x86R.')
    write('pickle', 'global-os-system', b'\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.')


# MitogenPromptMethod, in enum order.
LOCAL, SSH, SUDO, SU, DOAS = range(5)
PROMPT_TOKEN = 0x08
PROMPT_COMMANDS = {None: 0x00, 'python3': 0x10, '/usr/bin/python3': 0x20, '': 0x30}
PROMPT_DRAIN_AT_END = 0x40
PROMPT_NO_FLUSH = 0x80


def prompt_input(method, text, token=False, command='python3',
                 chunks=(0, 0, 0, 0), flags=0):
    """Input of fuzz-prompt: see the layout in fuzz-prompt.c."""
    if isinstance(text, str):
        text = text.encode('utf-8')
    first = method | PROMPT_COMMANDS[command] | flags
    if token:
        first |= PROMPT_TOKEN
    assert len(chunks) == 4
    return bytes([first]) + bytes(chunks) + text


def prompt_seeds():
    host = '[127.0.0.1]:22220'
    changed = (
        '@' * 59 + '\r\n'
        '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n'
        + '@' * 59 + '\r\n'
        'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n'
        'Offending ED25519 key in /tmp/known_hosts:1\r\n'
        '  remove with:\r\n'
        '  ssh-keygen -f "/tmp/known_hosts" -R "%s"\r\n'
        'Host key for %s has changed and you have requested strict checking.\r\n'
        'Host key verification failed.\r\n' % (host, host))
    texts = {
        'ssh-password': (SSH, "\rmitogen-t1@127.0.0.1's password: "),
        'ssh-wrong-password': (SSH, "\rmitogen-t1@127.0.0.1's password: "
                               'Permission denied, please try again.\r\r\n'
                               "\rmitogen-t1@127.0.0.1's password: "),
        'ssh-key-refused': (SSH, 'mitogen-t1@127.0.0.1: Permission denied (publickey,password).\r\n'),
        'ssh-key-refused-no-password': (SSH, 'mitogen-t1@127.0.0.1: Permission denied (publickey).\r\n'),
        'ssh-unknown-host-strict': (SSH, 'No ED25519 host key is known for %s and you have '
                                    'requested strict checking.\r\nHost key verification failed.\r\n' % host),
        'ssh-unknown-host-batch': (SSH, 'Host key verification failed.\r\n'),
        'ssh-unknown-host-ask': (SSH, "\rThe authenticity of host '%s (%s)' can't be established.\r\n"
                                 'ED25519 key fingerprint is SHA256:0123456789abcdef.\r\n'
                                 'This key is not known by any other names.\r\n'
                                 'Are you sure you want to continue connecting (yes/no/[fingerprint])? '
                                 % (host, host)),
        'ssh-host-key-changed': (SSH, changed),
        'ssh-passphrase': (SSH, "Enter passphrase for key '/root/.ssh/id_ed25519': "),
        'ssh-connect-failed': (SSH, 'ssh: connect to host 127.0.0.1 port 22220: Connection refused\r\n'),
        'ssh-kex': (SSH, 'kex_exchange_identification: read: Connection reset by peer\r\n'),
        'ssh-nopy': (SSH, 'bash: line 1: python3: command not found\n'),
        'ssh-nopy-exec': (SSH, 'bash: line 1: exec: python3: not found\n'),
        'ssh-nopy-env': (SSH, "/usr/bin/env: 'python3': No such file or directory\n"),
        'ssh-nopy-bashrc': (SSH, 'bash: python3.99: command not found\n'),
        'ssh-nopy-dash': (SSH, 'sh: 1: python3: not found\n'),
        'sudo-password': (SUDO, '[sudo] password for mitogen-t2: '),
        'sudo-password-fr': (SUDO, '[sudo] Mot de passe de mitogen-t2\u00a0: '),
        'sudo-wrong-password': (SUDO, '[sudo] password for mitogen-t2: \nSorry, try again.\n'
                                '[sudo] password for mitogen-t2: \n'
                                'sudo: 3 incorrect password attempts\n'),
        'sudo-wrong-password-fr': (SUDO, 'D\u00e9sol\u00e9, essayez de nouveau.\n'
                                   'sudo: 3 saisies de mots de passe incorrectes\n'),
        'sudo-required': (SUDO, 'sudo: a password is required\n'),
        'sudo-required-fr': (SUDO, 'sudo: il est n\u00e9cessaire de saisir un mot de passe\n'),
        'sudo-not-allowed': (SUDO, "Sorry, user mitogen-t2 is not allowed to execute "
                             "'/usr/bin/true' as mitogen-t1 on vm.\n"),
        'sudo-not-in-sudoers': (SUDO, 'mitogen-nopy is not in the sudoers file.\n'),
        'sudo-unknown-user': (SUDO, 'sudo: unknown user nosuchuser\n'
                              'sudo: error initializing audit plugin sudoers_audit\n'),
        'su-password': (SU, 'Password: '),
        'su-password-fr': (SU, 'Mot de passe : '),
        'su-failed': (SU, 'Password: \nsu: Authentication failure\n'),
        'su-failed-fr': (SU, 'su: \u00c9chec de l\u2019authentification\n'),
        'doas-password': (DOAS, '\rdoas (mitogen-t2@vm) password: '),
        'doas-failed': (DOAS, 'doas: Authentication failed\n'),
        'doas-required': (DOAS, 'doas: Authentication required\n'),
        'doas-not-permitted': (DOAS, 'doas: Operation not permitted\n'),
        'local-nopy': (LOCAL, 'bash: line 1: python3: command not found\n'),
        'local-markers': (LOCAL, 'MITO000\nMITO001\nMITO002\n'),
        'ssh-markers': (SSH, 'Warning: Permanently added \'%s\' (ED25519) to the list of known hosts.\r\n'
                        'MITO000\nMITO001\nMITO002\n' % host),
        'sudo-markers': (SUDO, '[sudo] password for mitogen-t2: \nMITO000\nMITO002\n'),
    }
    for name, (method, text) in texts.items():
        write('prompt', name, prompt_input(method, text))

    # The same texts another way: byte by byte, odd splits, only drained at
    # the end, or freed with a partial line still buffered.
    write('prompt', 'ssh-password-bytes', prompt_input(SSH, texts['ssh-password'][1], chunks=(1, 1, 1, 1)))
    write('prompt', 'sudo-password-fr-split', prompt_input(SUDO, texts['sudo-password-fr'][1], chunks=(3, 31, 1, 2)))
    write('prompt', 'ssh-host-key-changed-split', prompt_input(SSH, changed, chunks=(7, 60, 1, 0)))
    write('prompt', 'ssh-wrong-password-at-end', prompt_input(SSH, texts['ssh-wrong-password'][1],
                                                             flags=PROMPT_DRAIN_AT_END))
    write('prompt', 'doas-password-no-flush', prompt_input(DOAS, 'doas: Authentication failed\r\n'
                                                           '\rdoas (mitogen-t2@vm) pass',
                                                           flags=PROMPT_NO_FLUSH))
    # sudo -p: the token, in any locale, with and without a command.
    write('prompt', 'sudo-token', prompt_input(SUDO, 'MITOGEN-PW:', token=True))
    write('prompt', 'sudo-token-after-lines', prompt_input(SUDO, 'sudo: unable to resolve host vm\nMITOGEN-PW:',
                                                           token=True, command=None, chunks=(5, 0, 0, 0)))
    write('prompt', 'ssh-nopy-path-command', prompt_input(SSH, texts['ssh-nopy'][1], command='/usr/bin/python3'))
    write('prompt', 'ssh-nopy-no-command', prompt_input(SSH, texts['ssh-nopy'][1], command=None))
    write('prompt', 'ssh-nopy-empty-command', prompt_input(SSH, texts['ssh-nopy'][1], command=''))
    # Prompts in other languages and forms, and a line longer than the
    # parser keeps (4 KiB).
    write('prompt', 'su-password-de', prompt_input(SU, 'Passwort: '))
    write('prompt', 'su-password-ja', prompt_input(SU, '\u30d1\u30b9\u30ef\u30fc\u30c9\uff1a'))
    write('prompt', 'su-password-ru', prompt_input(SU, '\u041f\u0430\u0440\u043e\u043b\u044c:\u3000'))
    write('prompt', 'invalid-utf8', prompt_input(SSH, b'\xff\xfe\x00password\xc3: \x80\n\xe2\x82'))
    write('prompt', 'long-line', prompt_input(SSH, 'x' * 5000 + ' password: ', chunks=(255, 255, 255, 255)))
    write('prompt', 'empty', prompt_input(SSH, b''))


def main():
    for corpus, make in (('frame', frame_seeds), ('pickle', pickle_seeds),
                         ('prompt', prompt_seeds)):
        path = os.path.join(SEEDS, corpus)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        make()
        print('%s: %d files' % (path, len(os.listdir(path))))


if __name__ == '__main__':
    main()

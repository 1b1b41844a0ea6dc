"""EventHive 0.5.0's receive path for a connector with a secret
(PUBSUB.md 5.3 step 6), re-stated with the standard library and the
`cryptography` package: the Go tests pipe the messages the sink published
through it, so that Python, not our own code, judges the signatures.

Usage: eventhive_receive.py SECRET < messages, one JSON string (the Redis
payload) per line. Prints, per line, the verified message as JSON (without
__sign__) or DROP, as EventHive drops a message silently.
"""
import base64
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def canon(m):
    return json.dumps(m, indent=0, sort_keys=True, separators=(',', ':'))


def receive(key, payload):
    try:
        data = json.loads(payload)
        if 'iv' in data and 'ciphertext' in data:
            iv = base64.b64decode(data['iv'])
            ct = base64.b64decode(data['ciphertext'])
            dec = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
            data = json.loads(dec.update(ct) + dec.finalize())
        sign = data.pop('__sign__')
        want = hmac.new(key, canon(data).encode(), hashlib.sha1).hexdigest()
        if not hmac.compare_digest(sign, want):
            return None
        return data
    except Exception:
        return None


def main():
    key = hashlib.sha256(sys.argv[1].encode()).digest()[:16]
    for line in sys.stdin:
        data = receive(key, json.loads(line))
        print('DROP' if data is None else json.dumps(data, sort_keys=True))


main()

# Reads JSON documents, one per line (each line a JSON string holding the
# document's text), and prints each as EventHive's signer canonicalizes it:
# json.dumps(json.loads(doc), indent=0, sort_keys=True, separators=(',', ':')),
# itself JSON-quoted on one line, so that newlines survive.
import json
import sys

for line in sys.stdin:
    doc = json.loads(line)
    out = json.dumps(json.loads(doc), indent=0, sort_keys=True, separators=(',', ':'))
    sys.stdout.write(json.dumps(out) + "\n")

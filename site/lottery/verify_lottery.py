"""Check a published lottery result yourself.

Usage:
    python3 verify_lottery.py lottery.json
    python3 verify_lottery.py https://<site>/api/programs/<program-id>/lottery

lottery.json is what the site publishes at /api/programs/<program-id>/lottery.
The script needs only Python 3 (no extra packages). It checks that:
  1. the revealed seed matches the hash committed before applications closed;
  2. ordering applicants by (priority tier, SHA-256(seed + receipt number))
     gives exactly the published ranks;
  3. the first `capacity` are selected and the next `waitlist_size` are on the
     waitlist, in order.
"""

import hashlib
import json
import sys
import urllib.request


def load(source):
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source) as response:
            return json.load(response)
    with open(source, encoding="utf-8") as file:
        return json.load(file)


def verify(published):
    problems = []
    seed = bytes.fromhex(published["seed"])
    if hashlib.sha256(seed).hexdigest() != published["seed_sha256"]:
        problems.append("the seed does not match the committed hash")

    results = published["results"]
    ordered = sorted(
        results,
        key=lambda r: (r["tier"], hashlib.sha256(seed + r["receipt_number"].encode("ascii")).hexdigest()),
    )
    capacity = published["capacity"]
    waitlist_size = published["rules"]["waitlist_size"]
    for rank, result in enumerate(ordered, start=1):
        if rank <= capacity:
            expected = ("selected", None)
        elif rank <= capacity + waitlist_size:
            expected = ("waitlisted", rank - capacity)
        else:
            expected = ("not_selected", None)
        if result["rank"] != rank:
            problems.append(f"{result['receipt_number']}: published rank {result['rank']}, recomputed {rank}")
        if (result["outcome"], result["waitlist_position"]) != expected:
            problems.append(f"{result['receipt_number']}: published {result['outcome']}, recomputed {expected[0]}")
    return problems


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    published = load(argv[1])
    problems = verify(published)
    if problems:
        print("NG: the published result does not follow from the seed:")
        for problem in problems:
            print("  -", problem)
        return 1
    print(f"OK: {len(published['results'])} applicants; the result follows from the committed seed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

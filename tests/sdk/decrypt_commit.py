"""Opens a timelocked weight commit with the Bittensor SDK's own timelock code
(`bittensor_core.decrypt_with_signature`), given the drand signature of its round.

Usage: decrypt_commit.py ENVELOPE_HEX SIGNATURE_HEX   (prints the plaintext as hex)

The envelope is what the SDK's own encrypt functions return around the chain's commit bytes:
SCALE `(Vec<u8> ciphertext, u64 reveal round)`.
"""

import sys

import bittensor_core


def main():
    ciphertext, signature = bytes.fromhex(sys.argv[1]), sys.argv[2]
    print(bytes(bittensor_core.decrypt_with_signature(ciphertext, signature)).hex())


if __name__ == "__main__":
    main()

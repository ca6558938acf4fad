"""``python -m chainscan._chunk_worker``: one chunk of a parallel pose extraction (see chainscan.extract)."""

from chainscan.extract import worker_main

if __name__ == "__main__":
    worker_main()

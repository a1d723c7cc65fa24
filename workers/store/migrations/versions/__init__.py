"""One module per schema revision, oldest first: rev_0001_baseline, rev_0002_..."""

"""Read-outs: the speed-of-service report and its page, a cable's trace, the live watch."""

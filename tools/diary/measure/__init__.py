"""measure: count, run, test and judge each snapshot, in parallel and cached; the records it writes."""

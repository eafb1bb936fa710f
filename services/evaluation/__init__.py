"""`thinkstream eval`: run a question set with gold answers through a live gateway and measure
accuracy, check verdicts and speed, per request mode."""

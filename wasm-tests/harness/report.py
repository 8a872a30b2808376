"""Lines the drills want in the test run's summary (served / failed per outage window), printed by
conftest.py's terminal-summary hook whether or not output is captured."""
LINES = []


def add(line):
    LINES.append(line)
    print(line)

"""Hostile: loops forever (review must stop it at --timeout)."""

import time

while True:
    time.sleep(0.05)

"""Tests of the prediction server: a real server on 127.0.0.1 (port 0) over a real workspace."""

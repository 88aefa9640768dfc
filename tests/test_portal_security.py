"""Small pieces of the portal's hardening, tested on their own."""
from __future__ import annotations

from portal.security import LoginThrottle
from portal.submissions import upload_name


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_throttle_counts_per_address_and_username_and_forgets_after_the_window():
    clock = Clock()
    throttle = LoginThrottle(limit=3, window=60, clock=clock)
    assert [throttle.allow("10.0.0.1", "amira") for _ in range(4)] == [True, True, True, False]
    assert throttle.allow("10.0.0.1", "AMIRA ") is False       # same user, other spelling
    assert throttle.allow("10.0.0.2", "amira") is True         # other address
    assert throttle.allow("10.0.0.1", "karim") is True         # other user
    clock.now += 61
    assert throttle.allow("10.0.0.1", "amira") is True


def test_throttle_reset_after_a_successful_login():
    throttle = LoginThrottle(limit=2, window=60, clock=Clock())
    throttle.allow("a", "u"), throttle.allow("a", "u")
    throttle.reset("a", "u")
    assert throttle.allow("a", "u") is True


def test_uploaded_file_names_lose_client_paths_and_control_characters():
    assert upload_name("C:\\Users\\amira\\Desktop\\passages.csv") == "passages.csv"
    assert upload_name("../../etc/passwd") == "passwd"
    assert upload_name("bad\x00name\n.csv") == "badname.csv"
    assert upload_name("") == "upload"
    assert upload_name("عبور الحدود.xlsx") == "عبور الحدود.xlsx"
    assert len(upload_name("x" * 1000)) == 255

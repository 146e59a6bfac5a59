"""Reading the dates people give for a hotel stay, so that the check-out can be checked
against the check-in.

Only what a booking assistant hears most is understood: "today", "tonight", "tomorrow",
"the day after tomorrow", "the day after", weekdays ("friday", "next friday", "this
friday"), "this weekend", a day of a month ("march 3rd", "the 12th of may", "12 May"), a
day alone ("the 15th") and ISO dates ("2026-05-12"). Anything else reads as None, and the
caller decides what that means (the hotel form asks again).

A weekday, "the day after" or a day alone ("the 15th") is read relative to a reference
day: the check-in for a check-out ("until sunday" is the first Sunday after the check-in),
today otherwise. A day of a month is the next one from today.
"""
import datetime
import re
from typing import Optional

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH = r"(?P<month>" + "|".join(m[:3] + r"[a-z]*" for m in MONTHS) + r")"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_DAY_OF_MONTH = (rf"^(?:the )?{_DAY}(?: of)? {_MONTH}$", rf"^{_MONTH} (?:the )?{_DAY}$")


def parse_date(text: Optional[str], today: datetime.date,
               after: Optional[datetime.date] = None) -> Optional[datetime.date]:
    """The day text names, or None where it names none this module reads.

    today: the day the conversation happens. after: the reference day for weekdays and
    "the day after" (the check-in, for a check-out); today when None.
    """
    if not text:
        return None
    words = re.sub(r"[,.!?]", " ", str(text).lower())
    words = re.sub(r"^(?:on|from|until|till|til|by) ", "", " ".join(words.split()))
    reference = after or today
    relative = {"today": today, "tonight": today, "tomorrow": today + datetime.timedelta(1),
                "the day after tomorrow": today + datetime.timedelta(2),
                "the day after": reference + datetime.timedelta(1)}
    if words in relative:
        return relative[words]
    if words == "this weekend":
        return _next_weekday(WEEKDAYS.index("saturday"), today - datetime.timedelta(1))
    weekday = re.match(r"^(?:next |this |coming )?(" + "|".join(WEEKDAYS) + r")$", words)
    if weekday:
        return _next_weekday(WEEKDAYS.index(weekday.group(1)), reference)
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})$", words)
    if iso:
        return _date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    for pattern in _DAY_OF_MONTH:
        found = re.match(pattern, words)
        if found:
            month = _month(found.group("month"))
            if month is None:
                return None
            # the next such day from today: a check-out of "march 8th" for a check-in of
            # "march 10th" is before it, not a year later
            day = _date(today.year, month, int(found.group("day")))
            if day is not None and day < today:
                day = _date(today.year + 1, month, int(found.group("day")))
            return day
    day_alone = re.match(rf"^(?:the )?{_DAY}$", words)
    if day_alone:
        number = int(day_alone.group("day"))
        day = _date(reference.year, reference.month, number)
        if day is not None and day < reference:
            month = reference.month % 12 + 1
            day = _date(reference.year + (month == 1), month, number)
        return day
    return None


def _next_weekday(weekday: int, reference: datetime.date) -> datetime.date:
    """The first day after reference (not reference itself) that is weekday (0 = Monday)."""
    return reference + datetime.timedelta((weekday - reference.weekday() - 1) % 7 + 1)


def _month(word: str) -> Optional[int]:
    for number, name in enumerate(MONTHS, start=1):
        if name.startswith(word) or word.startswith(name):
            return number
    return None


def _date(year: int, month: int, day: int) -> Optional[datetime.date]:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None

"""Custom actions of the example bot.

The validation actions of the two forms (``validate_hotel_form``,
``validate_restaurant_form``) check each detail as it comes in: a city the
database knows, a group of 1 to 20, a price range, and a check-out after the
check-in. What can't be right is rejected with a message, and the form asks
again. A detail that changes one given earlier is acknowledged.

The search actions look the user's wishes up in a small SQLite database that lives in
memory (built from the tables below when the action server starts) and put the
best match into a slot (``restaurant`` or ``hotel``), which the bot then
suggests with ``utter_suggest_restaurant`` / ``utter_suggest_hotel``.

When nothing matches exactly, the search drops the least important wish first
(cuisine, then the group size, then the price range) and says so; for a city
that is not in the database it falls back to a general tip for that city.

Run the action server from example_bot/ with ``rasa run actions``.
"""

import datetime
import logging
from abc import abstractmethod
import re
import sqlite3
import threading
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from .dates import parse_date

logger = logging.getLogger(__name__)

# name, city, cuisine, price, largest group they take
RESTAURANTS: List[Tuple[Text, Text, Text, Text, int]] = [
    ("Trattoria da Nonna Rosa", "Rome", "italian", "cheap", 8),
    ("Osteria del Ponte", "Rome", "italian", "moderate", 10),
    ("La Terrazza Aurelia", "Rome", "italian", "expensive", 6),
    ("Sakura Roma", "Rome", "japanese", "moderate", 6),
    ("Curry Corner Trastevere", "Rome", "indian", "cheap", 12),
    ("Le Petit Zinc", "Paris", "french", "moderate", 8),
    ("Maison Lumière", "Paris", "french", "expensive", 6),
    ("Chez Gaston", "Paris", "french", "cheap", 10),
    ("Pho Belleville", "Paris", "vietnamese", "cheap", 8),
    ("Il Giardino Parigino", "Paris", "italian", "moderate", 12),
    ("Kaiseki Saint-Germain", "Paris", "japanese", "expensive", 4),
    ("Kreuzberg Kantine", "Berlin", "german", "cheap", 20),
    ("Spree Terrasse", "Berlin", "german", "expensive", 8),
    ("Saigon Garden", "Berlin", "vietnamese", "cheap", 10),
    ("Trattoria Sole", "Berlin", "italian", "moderate", 8),
    ("Anatolia Grill", "Berlin", "turkish", "cheap", 16),
    ("Baan Thai Mitte", "Berlin", "thai", "moderate", 8),
    ("The Copper Kettle", "London", "british", "moderate", 10),
    ("Brick Lane Spice House", "London", "indian", "cheap", 14),
    ("The Gilded Heron", "London", "british", "expensive", 6),
    ("Golden Dragon Soho", "London", "chinese", "moderate", 12),
    ("Kyoto Kitchen", "London", "japanese", "expensive", 6),
    ("Noodle Bar Chinatown", "London", "chinese", "cheap", 8),
    ("Tokyo Ramen Camden", "London", "japanese", "cheap", 6),
    ("Casa Paquita", "Madrid", "spanish", "cheap", 10),
    ("El Mirador de Palacio", "Madrid", "spanish", "expensive", 8),
    ("Taquería La Paloma", "Madrid", "mexican", "cheap", 8),
    ("Cantina Azteca", "Madrid", "mexican", "moderate", 10),
    ("Tasca do Rio", "Lisbon", "portuguese", "cheap", 10),
    ("Mar Azul", "Lisbon", "seafood", "expensive", 8),
    ("Café Alfama", "Lisbon", "portuguese", "moderate", 6),
    ("Forno Italiano Lisboa", "Lisbon", "italian", "moderate", 8),
    ("Zum Goldenen Hirschen", "Vienna", "austrian", "moderate", 12),
    ("Palais Rosengarten", "Vienna", "austrian", "expensive", 6),
    ("Naschmarkt Falafel", "Vienna", "lebanese", "cheap", 6),
    ("Pasta Piccola", "Vienna", "italian", "moderate", 8),
    ("De Gouden Tulp", "Amsterdam", "dutch", "moderate", 10),
    ("Rijsttafel Indah", "Amsterdam", "indonesian", "moderate", 12),
    ("Green Canal Kitchen", "Amsterdam", "vegetarian", "cheap", 8),
    ("Bodega Gòtica", "Barcelona", "spanish", "moderate", 10),
    ("Mar i Muntanya", "Barcelona", "seafood", "expensive", 8),
    ("Pizzeria Raval", "Barcelona", "italian", "cheap", 12),
    ("U Zlatého Lva", "Prague", "czech", "cheap", 16),
    ("Vltava Vista", "Prague", "czech", "expensive", 6),
    ("Bombay Express Praha", "Prague", "indian", "moderate", 10),
]

# name, city, price, most guests in one room
HOTELS: List[Tuple[Text, Text, Text, int]] = [
    ("Ostello Colosseo", "Rome", "cheap", 6),
    ("Hotel Aurora Roma", "Rome", "moderate", 4),
    ("Palazzo Varese", "Rome", "expensive", 4),
    ("Auberge Montmartre", "Paris", "cheap", 4),
    ("Hôtel des Arts", "Paris", "moderate", 3),
    ("Le Grand Lys", "Paris", "expensive", 4),
    ("Spreeblick Hostel", "Berlin", "cheap", 8),
    ("Hotel Lindenhof", "Berlin", "moderate", 4),
    ("The Tiergarten Grand", "Berlin", "expensive", 4),
    ("Camden Lodge", "London", "cheap", 4),
    ("The Bloomsbury Rooms", "London", "moderate", 3),
    ("The Regent's Crown", "London", "expensive", 5),
    ("Hostal Sol y Luna", "Madrid", "cheap", 4),
    ("Hotel Gran Vía Centro", "Madrid", "moderate", 4),
    ("Palacio de Recoletos", "Madrid", "expensive", 4),
    ("Casa da Ribeira", "Lisbon", "cheap", 4),
    ("Hotel Miradouro", "Lisbon", "moderate", 3),
    ("Palácio do Tejo", "Lisbon", "expensive", 4),
    ("Pension Sonnenschein", "Vienna", "cheap", 4),
    ("Hotel Stephansblick", "Vienna", "moderate", 4),
    ("Grand Hotel Belvedere", "Vienna", "expensive", 5),
    ("Canal House Hostel", "Amsterdam", "cheap", 6),
    ("Hotel De Grachten", "Amsterdam", "moderate", 3),
    ("The Amstel Residence", "Amsterdam", "expensive", 4),
    ("Hostal La Rambla", "Barcelona", "cheap", 4),
    ("Hotel Eixample", "Barcelona", "moderate", 4),
    ("Gran Hotel Montjuïc", "Barcelona", "expensive", 5),
    ("Old Town Hostel Praha", "Prague", "cheap", 8),
    ("Hotel Karlův Most", "Prague", "moderate", 4),
    ("Palác Vltava", "Prague", "expensive", 4),
    ("Temple Bar Inn", "Dublin", "cheap", 4),
    ("The Liffey House", "Dublin", "moderate", 4),
    ("Merrion Square Grand", "Dublin", "expensive", 4),
    ("Hostel Marienplatz", "Munich", "cheap", 6),
    ("Hotel Isartor", "Munich", "moderate", 4),
    ("Bayerischer Hof Residenz", "Munich", "expensive", 4),
]

PRICES = ("cheap", "moderate", "expensive")

# Words users use for a price range (the NLU maps most of them already; this is
# a second line of defence when it does not).
PRICE_WORDS: Dict[Text, Text] = {
    "cheap": "cheap",
    "budget": "cheap",
    "affordable": "cheap",
    "inexpensive": "cheap",
    "low-cost": "cheap",
    "low cost": "cheap",
    "moderate": "moderate",
    "moderately priced": "moderate",
    "mid-range": "moderate",
    "mid range": "moderate",
    "midrange": "moderate",
    "reasonably priced": "moderate",
    "average": "moderate",
    "medium": "moderate",
    "expensive": "expensive",
    "luxury": "expensive",
    "luxurious": "expensive",
    "posh": "expensive",
    "fancy": "expensive",
    "high-end": "expensive",
    "upscale": "expensive",
    "pricey": "expensive",
}

NUMBER_WORDS: Dict[Text, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}

RESTAURANT_PRICE_WORDS = {
    "cheap": "budget-friendly",
    "moderate": "mid-priced",
    "expensive": "high-end",
}
HOTEL_PRICE_WORDS = {"cheap": "budget", "moderate": "mid-range", "expensive": "luxury"}

_connection: Optional[sqlite3.Connection] = None
_lock = threading.Lock()


def _database() -> sqlite3.Connection:
    """Returns the in-memory database, creating and filling it on first use."""
    global _connection
    if _connection is None:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.executescript(
            """
            CREATE TABLE restaurants (
                name TEXT, city TEXT, cuisine TEXT, price TEXT, max_party INTEGER
            );
            CREATE TABLE hotels (
                name TEXT, city TEXT, price TEXT, max_guests INTEGER
            );
            """
        )
        connection.executemany(
            "INSERT INTO restaurants VALUES (?, ?, ?, ?, ?)", RESTAURANTS
        )
        connection.executemany("INSERT INTO hotels VALUES (?, ?, ?, ?)", HOTELS)
        connection.commit()
        _connection = connection
    return _connection


def normalise_price(value: Any) -> Optional[Text]:
    """Maps what the user said about the price to cheap / moderate / expensive."""
    if not value:
        return None
    text = str(value).strip().lower()
    if text in PRICE_WORDS:
        return PRICE_WORDS[text]
    for word, price in PRICE_WORDS.items():
        if word in text:
            return price
    return None


def normalise_people(value: Any) -> Optional[int]:
    """Reads a group size such as "4", "four" or "4 people"."""
    if value is None:
        return None
    text = str(value).strip().lower()
    digits = re.search(r"\d+", text)
    if digits:
        return int(digits.group())
    for word, number in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", text):
            return number
    return None


def normalise_text(value: Any) -> Optional[Text]:
    if not value:
        return None
    text = str(value).strip()
    return text or None


def _first_match(
    table: Text,
    city: Text,
    conditions: Sequence[Tuple[Text, Any]],
) -> Optional[Tuple[Any, ...]]:
    """The first row of `table` in `city` that satisfies all `conditions`.

    A condition is a SQL fragment with one placeholder and its parameter.
    """
    sql = f"SELECT * FROM {table} WHERE lower(city) = lower(?)"
    parameters: List[Any] = [city]
    for fragment, parameter in conditions:
        sql += f" AND {fragment}"
        parameters.append(parameter)
    # alphabetical, so that the same wishes always give the same suggestion
    sql += " ORDER BY name"
    with _lock:
        return _database().execute(sql, parameters).fetchone()


def _cuisine_label(cuisine: Text) -> Text:
    """"italian" -> "Italian", but "seafood" and "vegetarian" stay lower case."""
    return cuisine if cuisine in ("seafood", "vegetarian", "vegan") else cuisine.title()


def _known_city(table: Text, city: Text) -> bool:
    with _lock:
        row = (
            _database()
            .execute(
                f"SELECT 1 FROM {table} WHERE lower(city) = lower(?) LIMIT 1", [city]
            )
            .fetchone()
        )
    return row is not None


def search_restaurant(
    location: Any, price: Any = None, cuisine: Any = None, people: Any = None
) -> Text:
    """Describes the best restaurant for the wishes, for "How about ...?"."""
    city = normalise_text(location)
    price_range = normalise_price(price)
    food = (normalise_text(cuisine) or "").lower() or None
    party = normalise_people(people)

    if not city:
        return (
            "a well-reviewed restaurant near you "
            "(tell me a city and I can be more specific)"
        )
    if not _known_city("restaurants", city):
        kind = f"{_cuisine_label(food)} " if food else ""
        budget = f"{RESTAURANT_PRICE_WORDS[price_range]} " if price_range else ""
        return (
            f"one of the {budget}{kind}places in the centre of {city.title()} "
            f"(I don't have detailed listings for {city.title()} yet)"
        )

    wishes = {
        "cuisine": ("lower(cuisine) = ?", food),
        "party": ("max_party >= ?", party),
        "price": ("price = ?", price_range),
    }
    # all wishes first; then give up the cuisine, the group size, the price range
    # (alone and together), least important first
    attempts: Sequence[Tuple[Text, ...]] = (
        (),
        ("cuisine",),
        ("party",),
        ("cuisine", "party"),
        ("price",),
        ("cuisine", "price"),
        ("party", "price"),
        ("cuisine", "party", "price"),
    )
    row = _closest_match("restaurants", city, wishes, attempts)
    if row is None:  # unreachable: the city is known, so the last try matches
        return f"one of the restaurants in the centre of {city.title()}"
    name, row_city, row_cuisine, row_price, max_party = row
    description = (
        f"{name}, a {RESTAURANT_PRICE_WORDS[row_price]} "
        f"{_cuisine_label(row_cuisine)} restaurant in {row_city}"
    )
    missed = []
    if food and row_cuisine != food:
        missed.append("cuisine")
    if price_range and row_price != price_range:
        missed.append("price range")
    if party and max_party < party:
        missed.append("group size")
    if missed:
        description += (
            " (the closest match I have; "
            f"I couldn't match the {_join(missed)})"
        )
    return description


def search_hotel(location: Any, price: Any = None, people: Any = None) -> Text:
    """Describes the best hotel for the wishes, for "I'd suggest ..."."""
    city = normalise_text(location)
    price_range = normalise_price(price)
    guests = normalise_people(people)

    if not city:
        return (
            "a well-reviewed hotel near you "
            "(tell me a city and I can be more specific)"
        )
    if not _known_city("hotels", city):
        budget = f"{HOTEL_PRICE_WORDS[price_range]} " if price_range else ""
        return (
            f"one of the {budget}hotels in the centre of {city.title()} "
            f"(I don't have detailed listings for {city.title()} yet)"
        )

    wishes = {
        "party": ("max_guests >= ?", guests),
        "price": ("price = ?", price_range),
    }
    row = _closest_match("hotels", city, wishes, ((), ("party",), ("party", "price")))
    if row is None:
        return f"one of the hotels in the centre of {city.title()}"
    name, row_city, row_price, max_guests = row
    description = f"{name}, a {HOTEL_PRICE_WORDS[row_price]} hotel in {row_city}"
    if price_range and row_price != price_range:
        description += " (the closest match to your price range I have)"
    elif guests and guests > max_guests:
        description += f" (you'd need more than one room for {guests} people)"
    return description


def _closest_match(
    table: Text,
    city: Text,
    wishes: Dict[Text, Tuple[Text, Any]],
    attempts: Sequence[Tuple[Text, ...]],
) -> Optional[Tuple]:
    """The first row that meets every wish not dropped, trying each attempt in turn."""
    for dropped in attempts:
        conditions = [
            condition
            for key, condition in wishes.items()
            if key not in dropped and condition[1] is not None
        ]
        row = _first_match(table, city, conditions)
        if row is not None:
            return row
    return None


def _join(words: List[Text]) -> Text:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


HOTEL_DETAILS = ("location", "startdate", "enddate", "people", "price")
RESTAURANT_DETAILS = ("location", "cuisine", "people", "price")


def missing_details(tracker: Tracker, details: Sequence[Text]) -> List[Text]:
    """The details of a booking that are not set: a search runs only without any."""
    return [slot for slot in details if not tracker.get_slot(slot)]


class ActionSearchRestaurant(Action):
    """Finds a restaurant for location, price, cuisine and people."""

    def name(self) -> Text:
        return "action_search_restaurant"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[Dict[Text, Any]]:
        if missing_details(tracker, RESTAURANT_DETAILS):
            dispatcher.utter_message(response="utter_more_info_restaurant")
            return [SlotSet("restaurant", None)]
        result = search_restaurant(
            tracker.get_slot("location"),
            tracker.get_slot("price"),
            tracker.get_slot("cuisine"),
            tracker.get_slot("people"),
        )
        logger.debug(f"Restaurant search result: {result}")
        return [SlotSet("restaurant", result)]


class ActionSearchHotel(Action):
    """Finds a hotel for location, price and people (availability on the dates is not
    modelled)."""

    def name(self) -> Text:
        return "action_search_hotel"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[Dict[Text, Any]]:
        if missing_details(tracker, HOTEL_DETAILS):
            dispatcher.utter_message(response="utter_more_info_hotel")
            return [SlotSet("hotel", None)]
        result = search_hotel(
            tracker.get_slot("location"),
            tracker.get_slot("price"),
            tracker.get_slot("people"),
        )
        logger.debug(f"Hotel search result: {result}")
        return [SlotSet("hotel", result)]


# --- the forms' validation ----------------------------------------------------------------

MOST_PEOPLE = 20


def known_cities(table: Text) -> List[Text]:
    """The cities `table` ("hotels" or "restaurants") has places in, sorted."""
    with _lock:
        rows = _database().execute(f"SELECT DISTINCT city FROM {table} ORDER BY city")
        return [row[0] for row in rows.fetchall()]


def known_cuisines() -> List[Text]:
    """The cuisines the restaurants serve, sorted."""
    with _lock:
        rows = _database().execute("SELECT DISTINCT cuisine FROM restaurants ORDER BY cuisine")
        return [row[0] for row in rows.fetchall()]


def value_before_last_message(tracker: Tracker, slot: Text) -> Any:
    """What slot held before the user's latest message (None if it was not set)."""
    value = None
    latest_user = max((i for i, e in enumerate(tracker.events) if e.get("event") == "user"),
                      default=len(tracker.events))
    for event in tracker.events[:latest_user]:
        if event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
        elif event.get("event") in ("restart", "session_started"):
            value = None
    return value


class _ValidateBooking(FormValidationAction):
    """What both forms check. A detail the user changes (not the one the form asked for)
    is acknowledged with utter_correct_<slot>.

    A request for the other booking in the middle of this one rejects the form, even where
    the request fills some of its slots ("a restaurant in Rome" fills the city): Rasa's form
    would otherwise take the city and go on asking, and the bot would never start the
    other booking. The dialogue policy then decides what comes next."""

    table: Text = ""
    other_request: Text = ""

    @abstractmethod
    def name(self) -> Text:
        """validate_<form>; abstract, so rasa_sdk registers only the two forms' subclasses."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if tracker.latest_message.get("intent", {}).get("name") == self.other_request:
            return [ActionExecutionRejected(self.form_name())]
        return await super().run(dispatcher, tracker, domain)

    def _acknowledge(self, slot: Text, value: Any, dispatcher: CollectingDispatcher,
                     tracker: Tracker) -> None:
        before = value_before_last_message(tracker, slot)
        if before is not None and before != value and tracker.get_slot("requested_slot") != slot:
            dispatcher.utter_message(response=f"utter_correct_{slot}", **{slot: value})

    def _checked(self, slot: Text, value: Any, dispatcher: CollectingDispatcher,
                 tracker: Tracker) -> Dict[Text, Any]:
        if value is not None:
            self._acknowledge(slot, value, dispatcher, tracker)
        return {slot: value}

    def validate_location(self, value: Any, dispatcher: CollectingDispatcher,
                          tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        cities = known_cities(self.table)
        city = next((c for c in cities if c.lower() == str(value).strip().lower()), None)
        if city is None:
            dispatcher.utter_message(response="utter_unknown_city")
            dispatcher.utter_message(text=f"I can look for {self.table} in {_join(cities)}.")
        return self._checked("location", city, dispatcher, tracker)

    def validate_people(self, value: Any, dispatcher: CollectingDispatcher,
                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        number = normalise_people(value)
        if number is None or not 1 <= number <= MOST_PEOPLE:
            dispatcher.utter_message(response="utter_wrong_people")
            return {"people": None}
        return self._checked("people", str(number), dispatcher, tracker)

    def validate_price(self, value: Any, dispatcher: CollectingDispatcher,
                       tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        price = normalise_price(value)
        if price is None:
            dispatcher.utter_message(response="utter_unknown_price")
        return self._checked("price", price, dispatcher, tracker)


class ValidateHotelForm(_ValidateBooking):
    """hotel_form: a known city, dates this bot can read with the check-out after the
    check-in, 1 to 20 guests, a price range."""

    table = "hotels"
    other_request = "request_restaurant"

    def name(self) -> Text:
        return "validate_hotel_form"

    @staticmethod
    def today() -> datetime.date:
        return datetime.date.today()

    def validate_startdate(self, value: Any, dispatcher: CollectingDispatcher,
                           tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        start = parse_date(value, self.today())
        if start is None:
            dispatcher.utter_message(response="utter_unknown_date")
            return {"startdate": None}
        checked = self._checked("startdate", value, dispatcher, tracker)
        end = tracker.get_slot("enddate")
        if end and parse_date(end, self.today(), after=start) <= start:
            # a new check-in after an absolute check-out: the check-out is asked again
            dispatcher.utter_message(response="utter_enddate_not_after_startdate",
                                     startdate=value, enddate=end)
            checked["enddate"] = None
        return checked

    def validate_enddate(self, value: Any, dispatcher: CollectingDispatcher,
                         tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        start = parse_date(tracker.get_slot("startdate"), self.today())
        end = parse_date(value, self.today(), after=start)
        if end is None:
            dispatcher.utter_message(response="utter_unknown_date")
            return {"enddate": None}
        if start is not None and end <= start:
            dispatcher.utter_message(response="utter_enddate_not_after_startdate",
                                     startdate=tracker.get_slot("startdate"), enddate=value)
            return {"enddate": None}
        return self._checked("enddate", value, dispatcher, tracker)


class ValidateRestaurantForm(_ValidateBooking):
    """restaurant_form: a known city, a cuisine, 1 to 20 people, a price range."""

    table = "restaurants"
    other_request = "request_hotel"

    def name(self) -> Text:
        return "validate_restaurant_form"

    def validate_cuisine(self, value: Any, dispatcher: CollectingDispatcher,
                         tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._checked("cuisine", normalise_text(value) and str(value).strip().lower(),
                             dispatcher, tracker)

"""A tiny hotel/restaurant bot: its domain, and stories with k chitchat turns at a question."""
DOMAIN_YAML = """
version: "3.1"
intents: [greet, request_hotel, request_restaurant, inform, chitchat, explain, affirm]
entities: [location, price]
slots:
  location:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: location}]
  price:
    type: categorical
    values: [cheap, expensive]
    influence_conversation: true
    mappings: [{type: from_entity, entity: price}]
responses:
  utter_greet: [{text: hi}]
  utter_ask_location: [{text: "where?"}]
  utter_ask_price: [{text: "price?"}]
  utter_explain_location_hotel: [{text: because hotels}]
  utter_explain_location_restaurant: [{text: because restaurants}]
  utter_chitchat: [{text: bla}]
  utter_done_hotel: [{text: done hotel}]
  utter_done_restaurant: [{text: done restaurant}]
"""


def digression(k, ask):
    return "".join(f"""
  - intent: chitchat
  - action: utter_chitchat
  - action: {ask}""" for _ in range(k))


def task_story(task, k, name=None):
    """Only the first user turn says which task it is; k digressions follow."""
    ask = "utter_ask_location"
    return f"""
- story: {name or f'{task} with {k} digressions'}
  steps:
  - intent: request_{task}
  - action: {ask}{digression(k, ask)}
  - intent: inform
    entities:
    - location: rome
  - action: utter_ask_price
  - intent: explain
  - action: utter_explain_location_{task}
  - action: utter_ask_price
  - intent: inform
    entities:
    - price: cheap
  - slot_was_set:
    - price: cheap
  - action: utter_done_{task}
"""


def stories(*parts):
    return 'version: "3.1"\nstories:' + "".join(parts)


FAST = {"epochs": 150, "memory_slots": 16, "controller_units": 32, "random_seed": 3}

"""Sends every word of every message on `word`."""


class Operator:
    def on_event(self, event, send_output):
        if event.type == "INPUT":
            for word in bytes(event.data).split():
                send_output("word", word)

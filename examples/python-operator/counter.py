"""Counts the words it gets and prints the count every ten."""


class Operator:
    def __init__(self):
        self.count = 0

    def on_event(self, event, send_output):
        if event.type == "INPUT":
            self.count += 1
            if self.count % 10 == 0:
                print(f"{self.count} words so far; the last: {bytes(event.data).decode()}")

from django import forms

from sandbox import scenarios


class DeviceSwitchesForm(forms.Form):
    """The device and fault switches of the virtual terminal page."""

    online = forms.BooleanField(
        required=False, label="Online", help_text="Off: the provider cannot reach the terminal."
    )
    busy = forms.BooleanField(
        required=False,
        label="Busy",
        help_text="Busy with a transaction started elsewhere: new requests are refused.",
    )
    battery_low = forms.BooleanField(
        required=False, label="Low battery", help_text="The terminal refuses to start payments."
    )
    latency_ms = forms.IntegerField(
        min_value=0,
        max_value=60_000,
        label="Latency (ms)",
        help_text="Added to every provider request for this terminal.",
    )
    fail_next_5xx = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Fail the next requests with a 5xx",
        help_text="How many provider requests for this terminal answer 503, unprocessed.",
    )
    lose_next_response = forms.BooleanField(
        required=False,
        label="Lose the next response",
        help_text="The next payment start, refund or capture is processed, but its answer never arrives.",
    )


class DecideForm(forms.Form):
    """A button on the virtual terminal: what the customer does with the payment on screen."""

    payment = forms.IntegerField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(choices=list(scenarios.BUTTONS.items()))

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
    webhook_duplicate = forms.BooleanField(
        required=False,
        label="Duplicate webhooks",
        help_text="Every webhook is delivered twice, with the same event id and body.",
    )
    webhook_delay_s = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3600,
        label="Webhook delay (s)",
        help_text="Webhooks are delivered this many seconds late.",
    )
    webhook_hold_next = forms.BooleanField(
        required=False,
        label="Hold the next webhook",
        help_text="Out of order: the next webhook is delivered after the one that follows it.",
    )
    webhook_signature = forms.ChoiceField(
        required=False,
        choices=[("valid", "Signed"), ("missing", "Unsigned"), ("wrong", "Wrongly signed")],
        label="Webhook signature",
        help_text="Unsigned or wrongly signed deliveries must fail the dashboard's check.",
    )
    customer_checked_in = forms.BooleanField(
        required=False,
        label="Customer checked in",
        help_text="A customer scanned this PoS's QR code: payments show as Paired / IssuedToUser.",
    )

    def clean_webhook_signature(self):
        return self.cleaned_data["webhook_signature"] or None  # not on the page: leave it


class DecideForm(forms.Form):
    """A button on the virtual terminal: what the customer does with the payment on screen."""

    payment = forms.IntegerField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(choices=list(scenarios.BUTTONS.items()))

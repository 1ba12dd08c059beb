import hashlib
import hmac
import ipaddress
import json
import socket
from urllib.parse import urlsplit

from odoo import api, models
from odoo.exceptions import UserError

from ..tools.params import param_key, setting
from .pulse_step_run import RunSkipped

# the ports of a URL that names none
DEFAULT_PORTS = {"https": 443, "http": 80}


class PulseActionWebhook(models.AbstractModel):
    """Call the step's URL with a signed JSON payload, an external call made exactly once.
    https only (http only to this machine, for a rule in test mode, which calls no other
    receiver); where the host points is checked right before each call (private addresses
    refused unless an administrator allows them); redirects are not followed."""

    _name = "pulse.action.webhook"
    _inherit = "pulse.action"
    _description = "Rule action: webhook"

    @api.model
    def _check(self, step):
        if not step.webhook_url:
            return [self.env._("enter the URL")]
        refusal = self._url_refusal(step, step.rule_id.test_mode)
        return [refusal] if refusal else []

    @api.model
    def _is_external(self, run):
        return True

    @api.model
    def _payload(self, run):
        partner = run.partner_id
        return {
            "event": "customer_pulse.step",
            "rule": {"id": run.rule_id.id, "name": run.rule_id.name},
            "step": {"id": run.step_id.id, "name": run.step_id.name},
            "enrolment": {"id": run.enrolment_id.id, "cycle": run.enrolment_id.cycle},
            "customer": {
                "id": partner.id,
                "name": partner.name,
                "email": partner.email or None,
                "phone": partner.phone or partner.mobile or None,
            },
            "run_id": run.id,
        }

    @api.model
    def _request(self, run):
        """The signed JSON payload to the step's URL, its form checked again now, where its
        host points right before the call. At-least-once delivery: the receiver
        deduplicates on the Idempotency-Key."""
        # sudo: the signing secret is for managers; the engine signs with it
        step = run.step_id.sudo()
        refusal = self._url_refusal(step, run.test_mode)
        if run.test_mode and (refusal or not _is_loopback_url(step.webhook_url)):
            raise RunSkipped(self.env._("test mode: webhook not called (only on this machine)"))
        if refusal:
            raise UserError(refusal)
        body = json.dumps(self._payload(run), sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if step.webhook_secret:
            signature = hmac.new(step.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Pulse-Signature"] = f"sha256={signature}"
        return {
            "url": step.webhook_url.strip(),
            "body": body,
            "headers": headers,
            "what": self.env._("webhook"),
            "secrets": [step.webhook_secret],
            "check": lambda: self._address_refusal(step, run.test_mode),
        }

    @api.model
    def _url_refusal(self, step, test_mode):
        """Why the webhook URL of `step` may not be called, by its form (None: it may):
        https only, or http to this machine for a rule in test mode; no credentials in it.
        Where the host points is checked at each call (_address_refusal)."""
        step.ensure_one()
        parts = urlsplit((step.webhook_url or "").strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in DEFAULT_PORTS or not host:
            return self.env._("the URL must start with https://")
        if parts.username or parts.password:
            return self.env._("the URL cannot hold credentials: use the signing secret")
        if parts.scheme == "http" and not (test_mode and _is_loopback_name(host)):
            return self.env._(
                "the URL must start with https:// (http:// only to this machine, in test mode)"
            )
        return None

    @api.model
    def _address_refusal(self, step, test_mode):
        """Why the host of the webhook of `step` may not be called now, by where it points
        (None: it may): private, loopback, link-local and other non-public addresses are
        refused unless an administrator listed the host, the address or its network in the
        setting webhook_allowed_hosts. Raises OSError when the host does not resolve (a
        transient failure)."""
        step.ensure_one()
        parts = urlsplit((step.webhook_url or "").strip())
        host = (parts.hostname or "").lower()
        # the allow-list is read, not shown (a system parameter: administrators only)
        allowed = setting(self.env, "webhook_allowed_hosts")
        allowed = {entry.strip().lower() for entry in allowed.split(",") if entry.strip()}
        networks = []
        for entry in allowed:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, DEFAULT_PORTS["http"])
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            address = getattr(address, "ipv4_mapped", None) or address
            if parts.scheme == "http" and not (test_mode and address.is_loopback):
                return self.env._(
                    "%(host)s is not this machine: http:// only to this machine, in test mode",
                    host=host,
                )
            public = address.is_global and not address.is_multicast
            if public or host in allowed or any(address in net for net in networks):
                continue
            return self.env._(
                "%(host)s points to a private, loopback or link-local address (%(address)s): "
                "refused unless an administrator allows it (%(param)s)",
                host=host,
                address=str(address),
                param=param_key("webhook_allowed_hosts"),
            )
        return None


def _is_loopback_name(host):
    """True for a host that names this machine: localhost or a loopback address."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_loopback_url(url):
    host = (urlsplit((url or "").strip()).hostname or "").lower()
    return _is_loopback_name(host)

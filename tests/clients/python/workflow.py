"""The client workflow, run with the Python client that openapi-python-client generated
from the served /openapi.json (package `crm_client`, on PYTHONPATH).

    CRM_API_URL=http://127.0.0.1:8000/api/v1 python workflow.py

Signs up, logs in (JSON and the OAuth2 form), creates a company and a contact linked to
it, moves a deal NEW -> NEGOTIATION -> CLOSED_WON, reads its history and the summary,
searches and pages through more than two pages, books a viewing of a property, sees a
double booking refused with 409, sees a second tenant get 404 for the first
tenant's contact, and reads webhook messages about the contact and the deal (as the
API's answers make them) with the generated event models. Every answer is parsed by
the generated models, so a response that breaks the document fails here. Exits
non-zero on the first failure.
"""

import datetime
import json
import os
import re
import sys
import time
import uuid

from crm_client import AuthenticatedClient, Client
from crm_client.api.auth import confirm_sign_up, get_me, log_in, sign_up
from crm_client.api.companies import create_company
from crm_client.api.contacts import create_contact, get_contact, list_contacts
from crm_client.api.deals import create_deal, get_deal_history, get_deal_summary, update_deal
from crm_client.api.real_estate import create_property, create_viewing
from crm_client.models import (
    Address,
    ConfirmBody,
    Contact,
    ContactCreatedEvent,
    Deal,
    DealStageChangedEvent,
    DealPatchBody,
    ListingType,
    LoginBody,
    LoginForm,
    NewCompanyBody,
    NewContactBody,
    NewDealBody,
    NewPropertyBody,
    NewViewingBody,
    Problem,
    PropertyType,
    SignUpBody,
)
from crm_client.types import UNSET

BASE_URL = os.environ["CRM_API_URL"]
# The server's log: without an SMTP server it writes each message, link included, there.
SERVER_LOG = os.environ["CRM_SERVER_LOG"]
PASSWORD = "correct horse battery staple"
RUN = uuid.uuid4().hex[:8]


def expect(response, status):
    """The parsed answer, after checking the status (the body printed when it differs)."""
    if response.status_code != status:
        sys.exit(f"expected {status}, got {response.status_code}: {response.content!r}")
    return response.parsed


def mailed_token(recipient, path):
    """The token of the newest `path?token=…` link mailed to `recipient` (from the log)."""
    link = re.compile(re.escape(path) + r"\?token=([0-9A-Fa-f.-]+)")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(SERVER_LOG, encoding="utf-8", errors="replace") as log:
            found = [m.group(1) for line in log if recipient in line for m in link.finditer(line)]
        if found:
            return found[-1]
        time.sleep(0.2)
    sys.exit(f"no {path} link was mailed to {recipient}")


def signed_up(tenant):
    email = f"owner-{RUN}@{tenant.lower()}.example"
    body = SignUpBody(tenant_name=tenant, email=email, password=PASSWORD, full_name="Owner")
    expect(sign_up.sync_detailed(client=Client(BASE_URL), body=body), 202)
    token = mailed_token(email, "/signup/confirm")
    confirm = ConfirmBody(token=token)
    tokens = expect(confirm_sign_up.sync_detailed(client=Client(BASE_URL), body=confirm), 201)
    return email, AuthenticatedClient(BASE_URL, token=tokens.access_token)


def received(model, kind, data):
    """A webhook message of `kind` about `data`, read by the generated model of its kind."""
    body = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "data": data,
    }
    message = model.from_dict(body)
    assert message.type_.value == kind and str(message.id) == body["id"], message
    return message


def main():
    email, api = signed_up("Acme")
    anonymous = Client(BASE_URL)
    json_login = expect(
        log_in.sync_detailed(client=anonymous, body=LoginBody(email=email, password=PASSWORD)), 200
    )
    form_login = expect(
        log_in.sync_detailed(client=anonymous, body=LoginForm(username=email, password=PASSWORD)),
        200,
    )
    assert json_login.token_type == form_login.token_type == "bearer"
    api = AuthenticatedClient(BASE_URL, token=form_login.access_token)
    me = expect(get_me.sync_detailed(client=api), 200)
    assert me.email == email, me

    company = expect(
        create_company.sync_detailed(client=api, body=NewCompanyBody(name="Engines Ltd")), 201
    )
    created = create_contact.sync_detailed(
        client=api,
        body=NewContactBody(first_name="Ada", last_name="Lovelace", company_id=company.id),
    )
    contact = expect(created, 201)
    assert contact.company_id == company.id and contact.email is UNSET, contact

    deal = expect(
        create_deal.sync_detailed(
            client=api,
            body=NewDealBody(
                title="Licence",
                contact_id=contact.id,
                company_id=company.id,
                amount_minor=125_000,
                currency="EUR",
                expected_close_date=datetime.date(2030, 6, 30),
            ),
        ),
        201,
    )
    assert deal.stage == "NEW", deal
    for stage in ("NEGOTIATION", "CLOSED_WON"):
        deal = expect(
            update_deal.sync_detailed(deal.id, client=api, body=DealPatchBody(stage=stage)), 200
        )
    assert deal.stage == "CLOSED_WON", deal
    read = get_deal_history.sync_detailed(deal.id, client=api)
    history = expect(read, 200)
    assert [change.to_stage for change in history.items] == [
        "NEW",
        "NEGOTIATION",
        "CLOSED_WON",
    ], history
    # What an endpoint receives about them: `data` is the resource as the API returns it.
    message = received(ContactCreatedEvent, "contact.created", json.loads(created.content))
    assert isinstance(message.data, Contact) and message.data.id == contact.id, message
    change = json.loads(read.content)["items"][2] | {"deal": deal.to_dict()}
    message = received(DealStageChangedEvent, "deal.stage_changed", change)
    assert isinstance(message.data.deal, Deal), message
    assert (message.data.from_stage, message.data.deal.stage) == (
        "NEGOTIATION",
        "CLOSED_WON",
    ), message
    summary = expect(get_deal_summary.sync_detailed(client=api), 200)
    won = next(stage for stage in summary.stages if stage.stage == "CLOSED_WON")
    assert [(a.currency, a.amount_minor) for a in won.amounts] == [("EUR", "125000")], won

    for number in range(5):
        expect(
            create_contact.sync_detailed(
                client=api, body=NewContactBody(first_name=f"Pager {number}", last_name="Reader")
            ),
            201,
        )
    seen, pages, cursor = [], 0, UNSET
    while True:
        page = expect(
            list_contacts.sync_detailed(client=api, q="pager", limit=2, cursor=cursor), 200
        )
        pages += 1
        seen += [item.first_name for item in page.items]
        if page.next_cursor is UNSET:
            break
        cursor = page.next_cursor
    assert pages == 3 and sorted(seen) == [f"Pager {n}" for n in range(5)], (pages, seen)

    home = expect(
        create_property.sync_detailed(
            client=api,
            body=NewPropertyBody(
                title="Flat by the park",
                address=Address(line="1 High Street", city="Leeds", country="GB"),
                price_minor=25_000_000,
                listing_type=ListingType.SALE,
                property_type=PropertyType.APARTMENT,
            ),
        ),
        201,
    )
    start = datetime.datetime(2031, 3, 1, 10, 0, tzinfo=datetime.timezone.utc)
    booking = NewViewingBody(contact_id=contact.id, scheduled_at=start, duration_minutes=60)
    viewing = expect(create_viewing.sync_detailed(home.id, client=api, body=booking), 201)
    assert viewing.scheduled_at == start, viewing
    overlapping = NewViewingBody(
        contact_id=contact.id, scheduled_at=start + datetime.timedelta(minutes=30)
    )
    refused = expect(create_viewing.sync_detailed(home.id, client=api, body=overlapping), 409)
    assert isinstance(refused, Problem) and refused.status == 409, refused

    _, other = signed_up("Globex")
    hidden = expect(get_contact.sync_detailed(contact.id, client=other), 404)
    assert isinstance(hidden, Problem), hidden
    print("python client workflow: passed")


if __name__ == "__main__":
    main()

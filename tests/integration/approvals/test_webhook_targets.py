"""An operator who keeps private targets refused gets no webhook into its own network."""


async def test_a_subscription_to_a_private_address_is_refused_and_not_kept(approvals, tokens, monkeypatch):
    strict = approvals.context.settings.model_copy(update={"webhook_allow_private_targets": False})
    monkeypatch.setattr(approvals.context, "settings", strict)

    response = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://169.254.169.254/latest/meta-data"}, headers=tokens.regulator()
    )

    assert response.status_code == 422
    assert "private or reserved address" in response.json()["detail"]
    listed = await approvals.client.get("/v1/subscriptions", headers=tokens.regulator())
    assert listed.json() == []

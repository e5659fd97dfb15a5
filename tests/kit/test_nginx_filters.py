"""The nginx role's filter (plugins/filter/nginx.py): the HTTPS server's locations."""

from __future__ import annotations

from plugins.filter.nginx import FilterModule, nginx_site_locations

SITE = {"rate": "20r/s", "burst": 40, "nodelay": True}


def test_by_default_the_site_has_one_location_without_a_limit() -> None:
    assert nginx_site_locations([], [], SITE, False, "app") == [
        {"path": "/", "limit_req": "", "websocket": False}
    ]


def test_the_site_limit_is_one_setting_on_root() -> None:
    assert nginx_site_locations([], [], SITE, True, "app") == [
        {"path": "/", "limit_req": "limit_req zone=app_req burst=40 nodelay;", "websocket": False}
    ]
    queued = {"rate": "5r/s", "burst": 10, "nodelay": False}
    assert nginx_site_locations([], [], queued, True, "my_app")[0]["limit_req"] == (
        "limit_req zone=my_app_req burst=10;"
    )


def test_path_limits_apply_with_the_site_limit_off_and_take_its_burst() -> None:
    limits: list[dict[str, object]] = [
        {"path": "/v2/", "rate": "20r/s"},
        {"path": "/v1/login", "rate": "10r/m", "burst": 5, "nodelay": False},
    ]
    assert nginx_site_locations(limits, [], SITE, False, "app") == [
        {
            "path": "/v2/",
            "limit_req": "limit_req zone=app_req_1 burst=40 nodelay;",
            "websocket": False,
        },
        {"path": "/v1/login", "limit_req": "limit_req zone=app_req_2 burst=5;", "websocket": False},
        {"path": "/", "limit_req": "", "websocket": False},
    ]


def test_websocket_paths_get_their_own_location_and_the_site_limit() -> None:
    assert nginx_site_locations([], ["/v1/ws/"], SITE, False, "app") == [
        {"path": "/v1/ws/", "limit_req": "", "websocket": True},
        {"path": "/", "limit_req": "", "websocket": False},
    ]
    on = nginx_site_locations([], ["/v1/ws/"], SITE, True, "app")
    assert [location["limit_req"] for location in on] == [
        "limit_req zone=app_req burst=40 nodelay;"
    ] * 2


def test_a_path_both_limited_and_websocket_is_one_location_and_root_stays_last() -> None:
    limits: list[dict[str, object]] = [
        {"path": "/v1/ws/", "rate": "2r/s", "burst": 4},
        {"path": "/", "rate": "50r/s"},
    ]
    locations = nginx_site_locations(limits, ["/v1/ws/", "/"], SITE, True, "app")
    assert locations == [
        {
            "path": "/v1/ws/",
            "limit_req": "limit_req zone=app_req_1 burst=4 nodelay;",
            "websocket": True,
        },
        {"path": "/", "limit_req": "limit_req zone=app_req_2 burst=40 nodelay;", "websocket": True},
    ]


def test_the_filter_is_registered_under_its_name() -> None:
    assert FilterModule().filters()["nginx_site_locations"] is nginx_site_locations

"""The rows of the demo business database, generated without a database: ~150k rows with plausible shape
(weekend peaks, holiday bumps, revenue following traffic).

Everything is derived from one ``random.Random(seed)`` and a fixed start date, so two builds give
byte-identical tables.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from data_pipeline.schema.demo_schema import DEMO_TABLES

START_DATE = date(2024, 1, 1)
CAR_TYPES = ("过境", "危化品", "城际", "其他")
CLASSIFIES = ("餐饮", "便利店", "汽修", "加油站", "其他")
BRANDS: dict[str, tuple[str | None, ...]] = {
    "餐饮": ("老娘舅", "真功夫", "肯德基", "嘉和一品", "赣味小吃", None),
    "便利店": ("易捷", "美宜佳", "驿购超市", None),
    "汽修": ("途虎养车", "驿路汽修", None),
    "加油站": ("中国石化", "中国石油"),
    "其他": (None, None, "母婴室", "特产馆"),
}
SPEND_PER_CAR = {"餐饮": 1.6, "便利店": 0.9, "汽修": 0.15, "加油站": 6.0, "其他": 0.2}  # yuan
TICKET = {"餐饮": 32.0, "便利店": 16.0, "汽修": 120.0, "加油站": 260.0, "其他": 25.0}  # yuan / order
CITIES = ("南昌", "赣州", "吉安", "九江", "宜春", "上饶", "抚州", "景德镇", "萍乡")
ROUTES = ("G60沪昆高速", "G70福银高速", "G45大广高速", "G35济广高速", "G56杭瑞高速",
          "G72泉南高速", "G1517莆炎高速", "S36昌栗高速")
_FIRST = "南庐瑞龙吉永新樟鹰上德婺玉彭湖都武修靖奉高宜万泰遂崇黎广铅弋贵乐横石"
_SECOND = "昌山金泉安丰余树潭饶兴源江口阳宁义城年和仁川平溪林岗港州"
WEEKDAY_FACTOR = (0.92, 0.88, 0.90, 0.95, 1.12, 1.25, 1.18)  # Monday .. Sunday
# (month, day, length in days, traffic factor): public holidays and the Spring Festival rush.
HOLIDAYS = ((1, 1, 1, 1.3), (2, 9, 9, 1.8), (4, 4, 3, 1.5), (5, 1, 5, 1.7),
            (6, 8, 3, 1.3), (9, 15, 3, 1.4), (10, 1, 7, 1.9))

Row = tuple[Any, ...]


@dataclass
class _Area:
    id: int
    no: str
    name: str
    base_cars: float
    shares: tuple[float, ...]
    end: date | None  # soft-deleted areas stop reporting after their delete date
    daily_cars: dict[date, int] = field(default_factory=dict)


def _money(yuan: float) -> Decimal:
    """Round to cents once, so numeric values never depend on float formatting."""
    return Decimal(round(yuan * 100)).scaleb(-2)


def _stamp(day: date, rng: random.Random) -> datetime:
    """A load time in the small hours of ``day``, as a nightly import job would record it."""
    return datetime(day.year, day.month, day.day, 1, rng.randrange(60), rng.randrange(60))


def _traffic_factor(day: date) -> float:
    """Relative traffic of ``day``: weekday profile x holiday rush x summer travel."""
    holiday = 1.0
    for month, first, length, factor in HOLIDAYS:
        start = date(day.year, month, first)
        if start <= day < start + timedelta(days=length):
            holiday = factor
    summer = 1.08 if day.month in (7, 8) else 1.0
    return WEEKDAY_FACTOR[day.weekday()] * holiday * summer


def _places(rng: random.Random, count: int) -> list[str]:
    """Distinct two-character place names made from syllable lists."""
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(rng.choice(_FIRST) + rng.choice(_SECOND), None)
    return list(seen)


def generate_rows(seed: int = 20250721, days: int = 365) -> dict[str, tuple[tuple[str, ...], list[Row]]]:
    """All demo rows (table -> (columns, rows)), in DEMO_TABLES order, without touching a database."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    rng = random.Random(seed)
    dates = [START_DATE + timedelta(days=d) for d in range(days)]
    traffic = {day: _traffic_factor(day) for day in dates}
    before = datetime(2023, 6, 1)
    out: dict[str, tuple[tuple[str, ...], list[Row]]] = {}

    companies = [(f"{city}分公司", f"H{i + 1:04d}", before + timedelta(days=i),
                  "省属路段管理单位" if i == 0 else None) for i, city in enumerate(CITIES)]
    out["bss_company"] = (("company_name", "company_no", "created_at", "remark"), companies)

    places = _places(rng, 80)
    areas: list[_Area] = []
    area_rows: list[Row] = []
    names: set[str] = set()
    soft_deleted = set(rng.sample(range(56), 3))
    for slot, place in enumerate(places[:56]):
        suffix = rng.choice(("", "", "", "东", "西", "南", "北"))
        name = place + suffix + ("停车区" if rng.random() < 0.1 else "服务区")
        if name in names:
            continue
        names.add(name)
        area_id = len(areas) + 1
        deleted = slot in soft_deleted
        end = dates[0] + timedelta(days=rng.randrange(days)) if deleted else None
        company = area_id if area_id <= len(CITIES) else rng.randrange(len(CITIES)) + 1
        state = "关闭" if deleted else rng.choices(("开放", "关闭", "上传数据"), (0.85, 0.03, 0.12))[0]
        located = rng.random() > 0.05
        lon = Decimal(rng.randrange(113_600_000, 118_400_000)).scaleb(-6) if located else None
        lat = Decimal(rng.randrange(24_600_000, 29_900_000)).scaleb(-6) if located else None
        position = f"{rng.choice(ROUTES)}K{rng.randrange(20, 900)}+{rng.randrange(10) * 100:03d}"
        area_rows.append((name, f"{1000 + area_id}", company, rng.choice(("信息化服务区", "智能化服务区")),
                          state, position if rng.random() > 0.1 else None, lon, lat,
                          before + timedelta(days=rng.randrange(180), hours=rng.randrange(24)),
                          deleted, datetime.combine(end, datetime.min.time()) if end else None))
        base = min(max(rng.lognormvariate(math.log(9000), 0.5), 1500), 40000)
        raw = [rng.uniform(0.45, 0.6), rng.uniform(0.01, 0.06), rng.uniform(0.25, 0.4),
               rng.uniform(0.08, 0.15)]
        areas.append(_Area(area_id, f"{1000 + area_id}", name, base,
                           tuple(x / sum(raw) for x in raw), end))
    out["bss_service_area"] = (("service_area_name", "service_area_no", "company_id", "service_area_type",
                                "service_state", "service_position", "longitude", "latitude",
                                "created_at", "deleted", "delete_ts"), area_rows)

    sections = [(f"{places[56 + i % 24]}至{places[(57 + 7 * i) % 80]}段", ROUTES[i % len(ROUTES)],
                 f"LD{i + 1:03d}" if rng.random() > 0.15 else None) for i in range(24)]
    out["bss_section_route"] = (("section_name", "route_name", "code"), sections)
    links = {(rng.randrange(len(sections)) + 1, a.id) for a in areas}
    links |= {(rng.randrange(len(sections)) + 1, a.id) for a in areas if rng.random() < 0.2}
    out["bss_section_route_area_link"] = (("section_route_id", "service_area_id"), sorted(links))

    branch_rows: list[Row] = []
    reporting: list[tuple[_Area, str, str, str, float, bool, bool, date, date | None]] = []
    for area in areas:
        for _ in range(rng.randrange(4, 10)):
            branch_id = len(branch_rows) + 1
            classify = rng.choices(CLASSIFIES, (0.35, 0.25, 0.1, 0.1, 0.2))[0]
            brand = rng.choice(BRANDS[classify])
            side = rng.choice(("东区", "西区", "南区", "北区", None))
            name = f"{area.name}{side or ''}{brand or ''}{classify if classify != '其他' else '商铺'}"
            name = name if name not in names else f"{name}{branch_id}号"
            names.add(name)
            no = f"BR{branch_id:05d}"
            opened = dates[0] - timedelta(days=200) + timedelta(days=rng.randrange(200 + days // 2))
            closed = area.end
            if closed is None and rng.random() < 0.04:
                closed = dates[0] + timedelta(days=rng.randrange(days))
            opened = min(opened, closed) if closed else opened
            stamp = datetime.combine(closed, datetime.min.time()) if closed else None
            branch_rows.append((name, no, area.id, classify, brand, side, opened, closed is not None, stamp))
            if classify in ("餐饮", "便利店") and rng.random() < 0.7:  # not every shop reports
                reporting.append((area, classify, no, name, rng.lognormvariate(0, 0.3),
                                  rng.random() < 0.5, rng.random() < 0.8, opened, closed))
    out["bss_branch"] = (("branch_name", "branch_no", "service_area_id", "classify", "product_brand",
                          "area_side", "open_date", "deleted", "delete_ts"), branch_rows)

    car_rows: list[Row] = []
    for area in areas:
        for day in dates:
            if (area.end and day >= area.end) or rng.random() < 0.004:
                continue  # closed, or a day the counter did not report
            total = area.base_cars * traffic[day] * rng.gauss(1, 0.06)
            for car_type, share in zip(CAR_TYPES, area.shares, strict=True):
                weight = share * (traffic[day] ** -0.7 if car_type == "危化品" else 1)  # restricted
                count = max(0, round(total * weight * rng.gauss(1, 0.05)))
                area.daily_cars[day] = area.daily_cars.get(day, 0) + count
                car_rows.append((day, count, car_type, area.id))

    day_rows: list[Row] = []
    for area, classify, no, name, factor, has_jd, has_xs, opened, closed in reporting:
        for day in dates:
            if day < opened or (closed and day >= closed):
                continue
            cars = area.daily_cars.get(day) or area.base_cars * traffic[day]
            amount = cars * SPEND_PER_CAR[classify] * factor * rng.gauss(1, 0.08)
            shares = [rng.uniform(0.5, 0.62), rng.uniform(0.15, 0.25), rng.uniform(0.04, 0.1),
                      rng.uniform(0.08, 0.14) if has_xs else 0.0, rng.uniform(0.02, 0.06) if has_jd else 0.0]
            values: list[Any] = []
            pay_sum, order_sum = Decimal(0), 0
            for share in shares:
                if share == 0.0:
                    values += [None, None]
                    continue
                money = _money(amount * share / sum(shares))
                orders = max(1, round(float(money) / (TICKET[classify] * rng.uniform(0.8, 1.2))))
                values += [money, orders]
                pay_sum, order_sum = pay_sum + money, order_sum + orders
            source = rng.choices(range(5), (0.05, 0.7, 0.2, 0.04, 0.01))[0]
            late = rng.randrange(2, 20) if source == 3 else 1
            day_rows.append((day, area.no, area.name, no, name, *values, pay_sum, order_sum, source,
                             _stamp(day + timedelta(days=late), rng)))
    out["bss_business_day_data"] = (("oper_date", "service_no", "service_name", "branch_no", "branch_name",
                                     "wx", "wx_order", "zfb", "zf_order", "rmb", "rmb_order", "xs",
                                     "xs_order", "jd", "jd_order", "pay_sum", "order_sum", "source_type",
                                     "created_at"), day_rows)
    out["bss_car_day_count"] = (("count_date", "customer_count", "car_type", "service_area_id"), car_rows)

    charging_rows: list[Row] = []
    for area in areas:
        if rng.random() > 0.65:
            continue
        operator = rng.choice(("国家电网", "特来电", "星星充电", None))
        piles, price = rng.randrange(4, 25, 2), rng.uniform(1.2, 1.6)
        for n, day in enumerate(dates):
            if day not in area.daily_cars:
                continue
            ev_share = 0.01 + 0.012 * n / max(days, 1)  # electric cars grow over the year
            times = min(piles * 30, round(area.daily_cars[day] * ev_share * rng.gauss(1, 0.1)))
            kwh = times * rng.gauss(28, 3)
            charging_rows.append((day, area.id, operator, piles, times, _money(kwh), _money(kwh * price)))
    out["bss_charging_day_data"] = (("stat_date", "service_area_id", "operator_name", "pile_count",
                                     "charge_times", "charge_kwh", "charge_fee"), charging_rows)
    return {table: out[table] for table in DEMO_TABLES}

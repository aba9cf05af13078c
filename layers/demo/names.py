"""Name pools and vectorised makers of synthetic Chinese names, phones and resident ID numbers.

Every name here is synthetic. The place names are modelled on the kind of names found in
Jinan's Licheng district; they do not describe real boundaries, roads or compounds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from layers.demo.arrays import STR, IntArray, StrArray, cat, choice_index, group_rank, pick

# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------

# The hundred commonest surnames, weighted roughly by frequency (Shandong leans to 王/张/李/刘).
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁"
    "魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎"
    "易常武乔贺赖龚文"
)
_SURNAME_WEIGHTS = np.concatenate(
    [[9.0, 8.0, 8.5, 7.0, 4.0], np.linspace(3.0, 0.3, len(SURNAMES) - 5)]
)

GIVEN_MALE = (
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发"
    "武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪"
    "心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启"
    "克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
GIVEN_FEMALE = (
    "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹"
    "霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶"
    "怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希"
    "宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
)

#: Relation to the household head, as written in the household register (户口簿).
RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")


def person_names(
    rng: np.random.Generator, surname_idx: IntArray, male: npt.NDArray[np.bool_]
) -> StrArray:
    """Full names: the given surname plus a one- or two-character given name by gender."""
    n = len(male)
    pool_m = np.array(list(GIVEN_MALE), dtype=STR)
    pool_f = np.array(list(GIVEN_FEMALE), dtype=STR)
    first = np.where(
        male, pool_m[rng.integers(0, len(pool_m), n)], pool_f[rng.integers(0, len(pool_f), n)]
    )
    second = np.where(
        male, pool_m[rng.integers(0, len(pool_m), n)], pool_f[rng.integers(0, len(pool_f), n)]
    )
    two = rng.random(n) < 0.72
    given = np.where(two, cat(first, second), first)
    return cat(np.array(list(SURNAMES), dtype=STR)[surname_idx], given)


def surnames(rng: np.random.Generator, n: int) -> IntArray:
    """Indexes into :data:`SURNAMES`, drawn by frequency."""
    return choice_index(rng, _SURNAME_WEIGHTS, n).astype(np.int64)


def random_names(rng: np.random.Generator, n: int) -> tuple[StrArray, npt.NDArray[np.bool_]]:
    """``n`` names of random gender; returns (names, is_male)."""
    male = rng.random(n) < 0.5
    return person_names(rng, surnames(rng, n), male), male


_MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
     166, 170, 173, 175, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 195,
     198, 199],
    dtype=np.int64,
)  # fmt: skip


def mobile_phones(rng: np.random.Generator, n: int) -> StrArray:
    """Synthetic 11-digit mainland mobile numbers matching ``1[3-9]\\d{9}``."""
    prefix = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), n)]
    return (prefix * 10**8 + rng.integers(0, 10**8, n)).astype(STR)


def landlines(rng: np.random.Generator, n: int) -> StrArray:
    """Synthetic Jinan landline numbers (area code 0531, 8 digits starting with 8)."""
    return cat("0531-", (88_000_000 + rng.integers(0, 1_000_000, n)).astype(STR))


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.array(list("10X98765432"), dtype=STR)


def id_check_chars(first17: IntArray) -> StrArray:
    """GB 11643 check characters for 17-digit numbers given as int64."""
    digits = (first17[:, None] // 10 ** np.arange(16, -1, -1, dtype=np.int64)) % 10
    return _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]


#: Licheng's county code (历城县) until it became a district (历城区, 370112) in 1987. GB 11643
#: region codes are those in force when the number was first issued, so older residents carry
#: 370121 (python-stdnum's ``cn.ric`` checks the code against the birth year the same way).
LICHENG_DISTRICT_REGION = 370112
LICHENG_COUNTY_REGION = 370121
LICHENG_DISTRICT_SINCE = 1987


def resident_ids(birth: npt.NDArray[np.datetime64], male: npt.NDArray[np.bool_]) -> StrArray:
    """Unique 18-digit resident ID numbers (GB 11643) of Licheng residents.

    Layout: 6-digit region (370112, or 370121 for those born before 1987), 8-digit birth date,
    3-digit sequence whose last digit is odd for men and even for women, and the ISO 7064
    MOD 11-2 check character. Sequences are handed out per (birth date, gender), so the numbers
    are unique within one call.
    """
    days = birth.astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = year * 10_000 + month * 100 + day
    region = np.where(
        year >= LICHENG_DISTRICT_SINCE, LICHENG_DISTRICT_REGION, LICHENG_COUNTY_REGION
    )
    gender_bit = male.astype(np.int64)
    rank = group_rank(ymd * 2 + gender_bit)
    if rank.size and rank.max() >= 500:
        raise ValueError("more than 500 people share a birth date and gender")
    # scatter the sequence per day so numbers do not all start at 001
    k = (rank + (days.astype(np.int64) * 7919) % 500) % 500
    first17 = (region * 10**8 + ymd) * 1000 + 2 * k + gender_bit
    return cat(first17.astype(STR), id_check_chars(first17))


# ---------------------------------------------------------------------------------------------
# Numbers in Chinese
# ---------------------------------------------------------------------------------------------

_DIGITS_ZH = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """A positive integer below 10,000 in Chinese numerals (12 → 十二, 105 → 一百零五)."""
    if not 0 < n < 10_000:
        raise ValueError("zh_number handles 1..9999")
    units = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
    out = ""
    zero = False
    for value, unit in units:
        d = n // value % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS_ZH[d] + unit
    if out.startswith("一十"):
        out = out[1:]
    return out


# ---------------------------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------------------------

CITY_PREFIX = "济南市历城区全福街道"

#: First names of the small demo street; the large scale appends generated names.
COMMUNITY_NAMES = (
    "全福社区", "华信社区", "鑫苑社区", "花园东社区", "祝舜社区", "盛福社区", "七里河社区",
    "幸福社区",
)  # fmt: skip

#: Word stems for generated road, community and compound names (large scale).
STEMS = (
    "全福", "华信", "鑫苑", "花园", "祝舜", "盛福", "七里", "荷花", "洪楼", "幸福", "和平", "团结",
    "新华", "胜利", "东风", "振兴", "文化", "工业", "滨河", "金鸡", "凤凰", "银座", "丁家", "王舍",
    "祝甸", "裕兴", "清河", "北园", "化纤", "电建", "山大", "将军", "唐冶", "彩石", "港沟", "郭店",
    "仲宫", "柳埠", "遥墙", "董家", "荷塘", "泉城", "历山", "千佛", "明湖", "趵突", "舜耕", "舜华",
    "汇源", "开元", "锦绣", "翡翠", "御景", "万科", "绿地", "恒大", "中海", "保利", "鲁能", "龙湖",
)  # fmt: skip

NS_MAJOR_ROADS = ("二环东路", "华信路", "鑫苑路", "全福路", "七里河路", "祝甸路")
EW_MAJOR_ROADS = ("北园大街", "祝舜路", "花园路", "荷花路", "工业北路")
MINOR_ROADS = (
    "全福东街", "华信一街", "盛福街", "幸福街", "鑫苑北街", "祝舜南街", "七里河东街", "花园北街",
    "荷花东街", "化纤厂路", "东风街", "新苑街", "和平街", "团结街", "滨河街", "文化街", "振兴街",
    "裕兴街", "清河街", "电建街",
)  # fmt: skip
ALLEYS = (
    "刘家巷", "王家胡同", "全福庄东巷", "全福庄西巷", "孙家巷", "后街巷", "槐树巷", "井字巷",
    "杨家胡同", "石板巷", "枣园巷", "菜园巷",
)  # fmt: skip

COMPOUND_NAMES = (
    "鑫苑小区", "华信家园", "全福花园", "盛福庄园", "祝舜苑", "幸福里小区", "化纤厂宿舍",
    "电力宿舍",
    "七里河小区", "荷花园小区", "洪福苑", "金色家园", "东方花园", "锦绣城", "怡然居", "翡翠郡",
    "和平小区", "团结新村", "新华苑", "胜利小区", "东风小区", "振兴花园", "文化苑", "滨河花园",
    "裕兴苑", "清河嘉园", "北园新村", "电建宿舍", "山大宿舍", "将军苑",
)  # fmt: skip
_COMPOUND_SUFFIXES = ("小区", "家园", "花园", "苑", "新村", "嘉园", "雅居", "公寓", "宿舍", "名邸")


def generated_names(
    stems: tuple[str, ...], suffixes: tuple[str, ...], fixed: tuple[str, ...], n: int
) -> list[str]:
    """``n`` distinct names: first the fixed ones, then stem + suffix, then numbered variants."""
    out = list(fixed[:n])
    seen = set(out)
    rounds = ("", "东", "西", "南", "北", "新", "二", "三", "四", "五", "六", "七", "八", "九")
    for extra in rounds:
        for suffix in suffixes:
            for stem in stems:
                if len(out) >= n:
                    return out
                name = f"{stem}{extra}{suffix}"
                if name not in seen:
                    seen.add(name)
                    out.append(name)
    if len(out) < n:
        raise ValueError(f"cannot make {n} distinct names")
    return out


def community_names(n: int) -> list[str]:
    """``n`` distinct community names (…社区)."""
    return generated_names(STEMS, ("社区",), COMMUNITY_NAMES, n)


def compound_names(n: int) -> list[str]:
    """``n`` distinct residential compound (小区) names."""
    return generated_names(STEMS, _COMPOUND_SUFFIXES, COMPOUND_NAMES, n)


def road_names(n: int, kind: str, taken: set[str]) -> list[str]:
    """``n`` road names of a kind ('major', 'minor', 'alley') not in ``taken``; adds them to it."""
    fixed: tuple[str, ...]
    suffixes: tuple[str, ...]
    if kind == "alley":
        fixed, suffixes = ALLEYS, ("巷", "胡同", "里")
    elif kind == "minor":
        fixed, suffixes = (
            MINOR_ROADS,
            ("街", "一街", "二街", "三街", "东街", "西街", "南街", "北街"),
        )
    else:
        fixed, suffixes = (), ("路", "大街", "东路", "西路", "南路", "北路", "中路", "大道")
    names = generated_names(
        STEMS, suffixes, tuple(f for f in fixed if f not in taken), n + len(taken)
    )
    out = [name for name in names if name not in taken][:n]
    taken.update(out)
    return out


# Shop and premises names: a stem (surname + 记, a road, a lucky word) and a trade.
_SHOP_TRADES = (
    "便利店",
    "超市",
    "五金店",
    "烟酒店",
    "水果店",
    "理发店",
    "药店",
    "手机店",
    "干洗店",
    "花店",
    "文具店",
    "母婴店",
)
_FOOD_TRADES = (
    "羊汤馆",
    "把子肉",
    "水饺馆",
    "面馆",
    "烧烤店",
    "火锅店",
    "包子铺",
    "快餐店",
    "油旋店",
    "甜沫店",
)
_HOTEL_TRADES = ("宾馆", "快捷酒店", "商务酒店", "旅馆")
_WORKSHOP_TRADES = ("服装加工坊", "家具加工点", "食品加工坊", "汽修店", "电动车维修点", "印刷作坊")
_STALL_TRADES = ("早餐摊", "水果摊", "修鞋摊", "烧烤摊", "蔬菜摊")
_FUN_TRADES = ("棋牌室", "网吧", "KTV", "台球室", "足浴店")
_THREE_IN_ONE = ("五金批发部", "建材门市", "粮油批发部", "家电门市")
_LUCKY = ("鑫", "福", "顺", "兴", "旺", "佳", "好", "利", "诚", "信")

PLACE_TRADES: dict[str, tuple[str, ...]] = {
    "shop": _SHOP_TRADES,
    "restaurant": _FOOD_TRADES,
    "hotel": _HOTEL_TRADES,
    "small_workshop": _WORKSHOP_TRADES,
    "small_stall": _STALL_TRADES,
    "small_entertainment": _FUN_TRADES,
    "three_in_one": _THREE_IN_ONE,
}


def trade_names(rng: np.random.Generator, kind: str, n: int) -> StrArray:
    """``n`` shop-style names for a place kind: '王记羊汤馆', '鑫顺便利店', ..."""
    trades = PLACE_TRADES[kind]
    surname = np.array(list(SURNAMES[:40]), dtype=STR)[rng.integers(0, 40, n)]
    lucky = pick(_LUCKY, rng.integers(0, len(_LUCKY), n))
    lucky2 = pick(_LUCKY, rng.integers(0, len(_LUCKY), n))
    style = rng.integers(0, 3, n)
    stem = np.where(
        style == 0, cat(surname, "记"), np.where(style == 1, cat("老", surname), cat(lucky, lucky2))
    )
    return cat(stem, pick(trades, rng.integers(0, len(trades), n)))

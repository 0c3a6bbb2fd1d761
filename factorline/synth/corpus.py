"""Text the engine draws: short subtitle sentences, names, titles, signs and watermarks in
English, Simplified Chinese and Russian, plus pure helpers that pick from them with a seeded
``numpy.random.Generator``. Sentences are composed from halves, so a few dozen phrases give
hundreds of distinct lines without any download.
"""

from __future__ import annotations

import numpy as np

LANGUAGES = ("en", "zh", "ru")

SUBJECTS = {
    "en": ("The old captain", "My sister", "Nobody here", "The whole village", "Our guide", "That strange dog",
           "The night train", "Every student", "The young doctor", "His best friend", "The rain", "We"),
    "zh": ("老船长", "我的妹妹", "这里没有人", "整个村子", "我们的导游", "那只奇怪的狗", "夜班火车", "每个学生",
           "年轻的医生", "他最好的朋友", "这场雨", "我们"),
    "ru": ("Старый капитан", "Моя сестра", "Никто здесь", "Вся деревня", "Наш гид", "Эта странная собака",
           "Ночной поезд", "Каждый студент", "Молодой врач", "Его лучший друг", "Этот дождь", "Мы"),
}
PREDICATES = {
    "en": ("waited until morning.", "knows the way home.", "never came back.", "is late again.",
           "found the key at last.", "wants to see the sea.", "stopped near the bridge.", "will call you tonight.",
           "lost the map.", "sings every evening.", "forgot the answer.", "left before dawn."),
    "zh": ("一直等到天亮。", "认识回家的路。", "再也没有回来。", "又迟到了。", "终于找到了钥匙。", "想去看大海。",
           "停在桥边。", "今晚会给你打电话。", "把地图弄丢了。", "每天晚上唱歌。", "忘了答案。", "天亮前就走了。"),
    "ru": ("ждал до утра.", "знает дорогу домой.", "так и не вернулся.", "опять опоздал.", "наконец нашёл ключ.",
           "хочет увидеть море.", "остановился у моста.", "позвонит тебе вечером.", "потерял карту.",
           "поёт каждый вечер.", "забыл ответ.", "ушёл до рассвета."),
}
TITLES = {
    "en": ("Chapter One", "The Long Road", "Ten Years Later", "Part II: The Return", "Summer Stories", "The End",
           "Breaking News", "Episode 4", "Into the Forest", "A Quiet Town"),
    "zh": ("第一章", "漫长的路", "十年以后", "第二部分：归来", "夏天的故事", "剧终", "突发新闻", "第四集", "走进森林", "安静的小镇"),
    "ru": ("Глава первая", "Долгая дорога", "Десять лет спустя", "Часть II: Возвращение", "Летние истории", "Конец",
           "Срочные новости", "Эпизод 4", "В лесу", "Тихий город"),
}
NAMES = {
    "en": ("Anna Fischer", "David Moreno", "Grace Liu", "Tom Becker", "Sara Novak", "James Okafor", "Lena Park",
           "Marco Rossi"),
    "zh": ("王小明", "李华", "张伟", "陈静", "刘洋", "杨帆", "赵敏", "周杰"),
    "ru": ("Анна Иванова", "Дмитрий Смирнов", "Ольга Петрова", "Игорь Кузнецов", "Мария Соколова", "Алексей Попов",
           "Елена Волкова", "Сергей Морозов"),
}
ROLES = {
    "en": ("Mayor of Riverside", "Marine biologist", "Festival director", "Eyewitness", "Head chef", "Reporter",
           "Professor of history", "Team captain"),
    "zh": ("市长", "海洋生物学家", "电影节主任", "目击者", "主厨", "记者", "历史学教授", "队长"),
    "ru": ("Мэр города", "Морской биолог", "Директор фестиваля", "Очевидец", "Шеф-повар", "Корреспондент",
           "Профессор истории", "Капитан команды"),
}
SIGNS = {
    "en": ("OPEN", "EXIT", "PHARMACY", "NO PARKING", "BAKERY", "Platform 3", "HOTEL", "Sale 50%", "Gate B12",
           "Welcome", "Room 204", "Coffee & Tea"),
    "zh": ("出口", "药店", "禁止停车", "面包店", "欢迎光临", "三号站台", "酒店", "营业中", "咖啡", "会议室"),
    "ru": ("ВЫХОД", "АПТЕКА", "ОТКРЫТО", "ПЕКАРНЯ", "ГОСТИНИЦА", "Платформа 3", "Добро пожаловать", "КАССА",
           "Кафе", "Скидки 50%"),
}
WATERMARKS = ("www.example-tv.com", "@daily_clips", "© 2024 Northwind Studio", "SAMPLE", "preview only",
              "streamhub.example.org", "@travel.moments", "DEMO COPY", "fl-news.example", "© Contoso Media")
LOGO_LETTERS = ("FL", "TV5", "NX", "HD", "K2", "ARC", "M", "Q", "ZEN", "24")


def pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """One element of ``options`` (a tuple: its order is part of the seed's meaning)."""
    return options[int(rng.integers(len(options)))]


def sentence(rng: np.random.Generator, language: str) -> str:
    """A short subtitle-like sentence: a subject and a predicate in ``language``."""
    subject, predicate = pick(rng, SUBJECTS[language]), pick(rng, PREDICATES[language])
    return subject + predicate if language == "zh" else f"{subject} {predicate}"


def language(rng: np.random.Generator, weights: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> str:
    """A language code of :data:`LANGUAGES`, drawn with ``weights``."""
    return LANGUAGES[int(rng.choice(len(LANGUAGES), p=np.asarray(weights) / sum(weights)))]

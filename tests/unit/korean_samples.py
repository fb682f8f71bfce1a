"""Korean text for the fast unit tests, which run without the shared corpora (the slow variants of the
same tests read ../shared/corpora through tests/helpers.py). Nothing here is copied from those corpora.

- REVIEWS, PETITION_EXCERPTS, CHATBOT_QUESTIONS: written for these tests in the style of NSMC movie
  reviews, Blue House petitions and chatbot questions. Each carries one of the things the cleaning
  tests look for (laughter runs, HTML entities and tags, <title> quoting, invisible and fullwidth
  characters, curly quotes, URLs, e-mails, mentions, Hanja, masked names, ...); the order matters,
  since the tests take the first sample matching a pattern.
- law_documents(): real Korean text that ships inside the konlpy wheel: the constitution
  (`konlpy/data/corpus/kolaw/constitution.txt`) and ten National Assembly bills (`kobill/*.txt`),
  one document per non-empty line, read by koprep's own default-corpus reader (importlib.resources).
"""

from __future__ import annotations

from functools import cache

from koprep.corpus import CorpusParams, read_corpus

REVIEWS = (
    "배우들 연기는 좋았다. 그런데 결말이 왜 이래?",
    "두 시간이 순삭 ㅋㅋㅋㅋ 강추합니다.",
    "주인공이 넘어지는 장면에서 빵 터짐ㅋㅋㅋㅋㅋㅋㅋ 다시 봐도 웃기다",
    "마지막 장면에서 펑펑 울었다ㅠㅠ 엄마랑 꼭 다시 볼래요",
    "스토리는 뻔한데… 음악 하나는 정말 좋았다",
    "예고편에 나온 &#39;그 장면&#39;은 본편에 없었다 2편은 안 본다",
    "엔딩에 흐르던 <street of rain> 노래가 아직도 귀에 맴돈다",
    "연출은 괜찮은데，배우들 대사 처리가 너무 어색함，그래서 별 세개",
    "자세한 후기는 블로그에 https://blog.example.com/review/2041 올려뒀어요",
    "원작 정보는 https://ko.wikipedia.org/wiki/Film여기 참고 생각보다 재밌음",
    "시사회 당첨되고 싶어요 연락은 movie.lover77@naver.com 으로 주세요",
    "이 영화의 @반전@은 정말 아무도 예상 못 했을 듯",
    "조조로 봤는데도 10000원이 아깝지 않았다",
    "웃다가 울다가.. ㅋ큐ㅠㅠ 감정이 롤러코스터",
    "처음엔 지루했는데..후반부 삼십 분이 대박!! 꼭 보세요",
    "OST 앨범까지 샀다 극장에서만 3번 봄",
    "ㅎㅎ 가볍게 보기 좋은 가족 영화",
    "CG가 어색해서 몰입이 안 됐음 ㅡㅡ",
    "감독 전작이 워낙 좋아서 기대했는데 이번엔 좀 아쉽네요",
    "아이들이랑 봤는데 어른인 제가 더 재밌게 봤어요!",
    "배경 음악이 장면마다 너무 커서 대사가 안 들림",
    "2시간 내내 긴장감 최고 스릴러 좋아하면 꼭 보세요",
)

PETITION_EXCERPTS = (
    "유족 보상금 차이를 표로 정리했습니다 <span>2016년 기준</span> 차액이 9천만원이 넘습니다 </span> "
    "형평에 맞게 제도를 고쳐 주십시오",
    "외교 문서마다 <America>, <the United States>, <미국> 표기가 뒤섞여 있고 일본 문서와 비교해도 "
    "기준이 없습니다. 표기를 하나로 정해 주십시오.",
    "세종시에 국회 분원을 두면 행정 비효율이 크게 줄어듭니다.\u200b 지방 분권을 위해 꼭 검토해 주십시오.",
    "은행 창구에서 위험을 제대로 설명 듣지 못한 채 가입했습니다\ufeff 피해자 구제 제도를 마련해 주십시오",
    "신도시 분양가가 3.3ｍ2당 2천만원을 넘어 무주택 서민은 내 집 마련을 꿈도 못 꿉니다",
    "정부는 “안전이 최우선”이라고 했지만 공사 현장은 달라진 것이 없습니다",
    "장애인 활동지원 시간이 줄었습니다 — 하루 네 시간으로는 혼자 생활할 수가 없습니다",
    "서명 문의는 메일 ********@gmail.com 으로 보내 주시기 바랍니다",
    "진행 상황은 인스타그램 @safeschoolkr 에서 확인하실 수 있습니다 많은 관심 부탁드립니다",
    "美 정부의 관세 인상으로 수출 중소기업의 피해가 커지고 있습니다 대책을 세워 주십시오",
    "시공사 직원 김**와 박**가 서류를 위조해 집을 팔았고 저희 가족은 하루아침에 집을 잃었습니다",
)

CHATBOT_QUESTIONS = (
    "오늘 점심 메뉴 골라줘",
    "비 오는 날엔 집에서 뭐 하면 좋을까",
    "중간고사 완전히 망쳐버렸어",
    "제일 친한 친구랑 크게 싸웠어 어떡해",
    "주말에 혼자 영화 보러 가도 괜찮을까?",
    "새벽 세 시인데 아직도 잠이 안 와",
    "다이어트는 내일부터 해도 되겠지?",
    "월요일 아침이 너무 싫어",
    "우리 집 고양이가 자꾸 손을 깨물어",
    "이삿짐 싸는 게 생각보다 힘드네",
    "내일 첫 면접인데 너무 떨려",
    "바다 보러 여행 가고 싶다",
    "커피를 하루에 다섯 잔이나 마셨어",
    "새 휴대폰 지금 살까 말까",
    "헬스장 등록만 하고 한 번도 안 갔어",
    "밤 열한 시에 라면 먹어도 될까?",
    "엄마 생일 선물로 뭐가 좋을까",
    "자취 처음인데 뭐부터 사야 해?",
    "PC방 가서 게임 한 판 할까",
    "SNS 그만하고 싶은데 자꾸 보게 돼ㅠㅠ",
    "오랜만에 연락 온 친구한테 답장해야 하나",
    "퇴근하고 배우기 좋은 취미 추천해줘",
    "요즘 들어 자꾸 깜빡깜빡해",
    "강아지 산책 시키기 귀찮다",
    "전기요금이 두 배로 나왔어!",
)


@cache
def law_documents() -> tuple[str, ...]:
    """konlpy's bundled constitution and bills, one document per non-empty line (koprep's default corpus)."""
    return tuple(read_corpus(None, CorpusParams())["text"])

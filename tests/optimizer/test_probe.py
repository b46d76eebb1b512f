from conftest import demo_hall_dict, ROOT
def test_x(demo_day):
    assert demo_hall_dict(2)["simulation"]["duration"] == "2 d"
    assert (ROOT / "scenarios").is_dir()

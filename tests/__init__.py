import pytest

# pytest rewrites the asserts of test modules and conftest.py files only; the helpers of tests/support
# assert too, and a failure inside one should read as well as a failure in a test.
pytest.register_assert_rewrite("tests.support")
